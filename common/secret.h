// Secret: bytes that wipe themselves.
//
// Holds plaintext key material, PINs and bearer tokens. The buffer is wiped
// with OPENSSL_cleanse when the Secret is destroyed or moved from. The bytes
// live in pages apart from the heap that are locked in memory where the
// process is allowed to (best effort), so that they are not written to swap,
// and left out of core dumps (locked_pool.h). Move-only. Not thread-safe for
// concurrent mutation.
//
// The only accessors are expose() and mutable_bytes(): easy to find in review.
// Formatting a Secret (fmt, spdlog, iostream, gtest) prints a redaction marker,
// never the bytes.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

namespace kmsd {

class Secret {
 public:
  Secret() noexcept = default;
  // A zero-filled secret of n bytes.
  explicit Secret(std::size_t n);
  // Copies the given bytes; the caller wipes its own copy.
  static Secret CopyOf(std::span<const std::uint8_t> bytes);
  static Secret CopyOf(std::string_view bytes);

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  std::span<const std::uint8_t> expose() const noexcept { return {data_, size_}; }
  std::span<std::uint8_t> mutable_bytes() noexcept { return {data_, size_}; }
  std::string_view expose_chars() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Shrinks the visible size (e.g. after reading fewer bytes than allocated);
  // the bytes beyond are wiped at once.
  void truncate(std::size_t n) noexcept;

  // Constant-time comparison of contents.
  bool Equals(std::span<const std::uint8_t> other) const noexcept;

 private:
  void Release() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  bool locked_ = false;
};

std::string RedactedText(const Secret& secret);
std::ostream& operator<<(std::ostream& os, const Secret& secret);
// gtest prints values with PrintTo when it exists; keep the marker there too.
void PrintTo(const Secret& secret, std::ostream* os);

}  // namespace kmsd

template <>
struct fmt::formatter<kmsd::Secret> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const kmsd::Secret& secret, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(kmsd::RedactedText(secret), ctx);
  }
};
