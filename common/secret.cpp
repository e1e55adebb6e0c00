#include "common/secret.h"

#include <openssl/crypto.h>

#include <cstring>
#include <ostream>
#include <utility>

#include "common/locked_pool.h"

namespace kmsd {

Secret::Secret(std::size_t n) : size_(n) {
  if (n == 0) return;
  // Locked pages outside the heap (locked_pool.h says why). Best effort: an
  // unprivileged process may exceed RLIMIT_MEMLOCK; the bytes are still wiped
  // and kept out of core dumps.
  const locked_pool::Block block = locked_pool::Allocate(n);
  data_ = block.data;
  capacity_ = block.capacity;
  locked_ = block.locked;
}

Secret Secret::CopyOf(std::span<const std::uint8_t> bytes) {
  Secret secret(bytes.size());
  if (!bytes.empty()) std::memcpy(secret.data_, bytes.data(), bytes.size());
  return secret;
}

Secret Secret::CopyOf(std::string_view bytes) {
  return CopyOf(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

Secret::Secret(Secret&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

Secret::~Secret() { Release(); }

void Secret::truncate(std::size_t n) noexcept {
  if (n >= size_) return;
  OPENSSL_cleanse(data_ + n, size_ - n);
  size_ = n;
}

bool Secret::Equals(std::span<const std::uint8_t> other) const noexcept {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data(), size_) == 0;
}

void Secret::Release() noexcept {
  if (data_ == nullptr) return;
  locked_pool::Free({data_, capacity_, locked_});  // wipes all capacity_ bytes
  data_ = nullptr;
  size_ = capacity_ = 0;
  locked_ = false;
}

std::string RedactedText(const Secret& secret) {
  return "[redacted " + std::to_string(secret.size()) + " bytes]";
}

std::ostream& operator<<(std::ostream& os, const Secret& secret) {
  return os << RedactedText(secret);
}

void PrintTo(const Secret& secret, std::ostream* os) { *os << RedactedText(secret); }

}  // namespace kmsd
