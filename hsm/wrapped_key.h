// The wrapped-key blob: a data key encrypted under a KEK, self-describing and
// bounded. Byte layout and rationale: docs/wrapped-key-format.md.
//
//   0  u8   format version (1)
//   1  u32  KEK version, big-endian (>= 1)
//   5  u8   mechanism (1 = AES-256-GCM, 96-bit IV, 128-bit tag)
//   6  u8   IV length (12)
//   7  u8   ciphertext length (32)
//   8  IV | ciphertext | tag (16)
//
// The first kWrappedKeyHeaderSize bytes are authenticated as a prefix of the
// GCM AAD, so the header cannot be re-labelled without a tag failure.
// Pure code: no token, no I/O, thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace kmsd::hsm {

inline constexpr std::uint8_t kWrappedKeyFormatV1 = 1;
inline constexpr std::uint8_t kMechanismAes256Gcm = 1;
inline constexpr std::size_t kWrappedKeyHeaderSize = 8;
inline constexpr std::size_t kGcmIvSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;
inline constexpr std::size_t kDataKeySize = 32;
inline constexpr std::size_t kWrappedKeySize =
    kWrappedKeyHeaderSize + kGcmIvSize + kDataKeySize + kGcmTagSize;  // 68
// Upper bound of any blob this version accepts; longer input is refused
// before it is examined further.
inline constexpr std::size_t kMaxWrappedKeySize = kWrappedKeySize;

// The fields of a parsed blob. The spans point into the buffer given to
// ParseWrappedKey, which must outlive them.
struct WrappedKeyView {
  std::uint32_t kek_version = 0;
  std::span<const std::uint8_t> header;      // the 8 authenticated header bytes
  std::span<const std::uint8_t> iv;          // 12 bytes
  std::span<const std::uint8_t> ciphertext;  // 32 bytes
  std::span<const std::uint8_t> tag;         // 16 bytes
};

// Errors: kInvalidArgument for an empty, short, truncated, oversized blob, one
// with trailing bytes, an unknown format version or mechanism, a wrong IV or
// ciphertext length, or KEK version 0.
Result<WrappedKeyView> ParseWrappedKey(std::span<const std::uint8_t> blob);

// The 8 header bytes for a v1 blob under `kek_version`.
std::array<std::uint8_t, kWrappedKeyHeaderSize> WrappedKeyHeader(std::uint32_t kek_version);

// header || iv || ciphertext_and_tag. Errors: kInvalidArgument on wrong sizes.
Result<std::vector<std::uint8_t>> SerializeWrappedKey(
    std::uint32_t kek_version, std::span<const std::uint8_t> iv,
    std::span<const std::uint8_t> ciphertext_and_tag);

// The AAD given to AES-GCM: header || caller AAD (the header has fixed size,
// so the concatenation is unambiguous).
std::vector<std::uint8_t> EffectiveAad(std::span<const std::uint8_t> header,
                                       std::span<const std::uint8_t> caller_aad);

}  // namespace kmsd::hsm
