#include "hsm/wrapped_key.h"

namespace kmsd::hsm {
namespace {

Error Malformed(const char* what) {
  return MakeError(ErrorCode::kInvalidArgument, std::string("malformed wrapped key: ") + what);
}

}  // namespace

Result<WrappedKeyView> ParseWrappedKey(std::span<const std::uint8_t> blob) {
  // Length bounds first: nothing past this point reads out of range.
  if (blob.empty()) return Malformed("empty");
  if (blob.size() > kMaxWrappedKeySize) return Malformed("oversized");
  if (blob.size() < kWrappedKeyHeaderSize) return Malformed("short header");
  if (blob[0] != kWrappedKeyFormatV1) return Malformed("unknown format version");
  const std::uint32_t kek_version = (std::uint32_t{blob[1]} << 24) |
                                    (std::uint32_t{blob[2]} << 16) | (std::uint32_t{blob[3]} << 8) |
                                    std::uint32_t{blob[4]};
  if (kek_version == 0) return Malformed("KEK version 0");
  if (blob[5] != kMechanismAes256Gcm) return Malformed("unknown mechanism");
  if (blob[6] != kGcmIvSize) return Malformed("IV length");
  if (blob[7] != kDataKeySize) return Malformed("ciphertext length");
  if (blob.size() < kWrappedKeySize) return Malformed("truncated");
  if (blob.size() > kWrappedKeySize) return Malformed("trailing bytes");

  WrappedKeyView view;
  view.kek_version = kek_version;
  view.header = blob.subspan(0, kWrappedKeyHeaderSize);
  view.iv = blob.subspan(kWrappedKeyHeaderSize, kGcmIvSize);
  view.ciphertext = blob.subspan(kWrappedKeyHeaderSize + kGcmIvSize, kDataKeySize);
  view.tag = blob.subspan(kWrappedKeyHeaderSize + kGcmIvSize + kDataKeySize, kGcmTagSize);
  return view;
}

std::array<std::uint8_t, kWrappedKeyHeaderSize> WrappedKeyHeader(std::uint32_t kek_version) {
  return {kWrappedKeyFormatV1,
          static_cast<std::uint8_t>(kek_version >> 24),
          static_cast<std::uint8_t>(kek_version >> 16),
          static_cast<std::uint8_t>(kek_version >> 8),
          static_cast<std::uint8_t>(kek_version),
          kMechanismAes256Gcm,
          static_cast<std::uint8_t>(kGcmIvSize),
          static_cast<std::uint8_t>(kDataKeySize)};
}

Result<std::vector<std::uint8_t>> SerializeWrappedKey(
    std::uint32_t kek_version, std::span<const std::uint8_t> iv,
    std::span<const std::uint8_t> ciphertext_and_tag) {
  if (kek_version == 0 || iv.size() != kGcmIvSize ||
      ciphertext_and_tag.size() != kDataKeySize + kGcmTagSize) {
    return MakeError(ErrorCode::kInvalidArgument, "wrapped key fields have wrong sizes");
  }
  const auto header = WrappedKeyHeader(kek_version);
  std::vector<std::uint8_t> blob;
  blob.reserve(kWrappedKeySize);
  blob.insert(blob.end(), header.begin(), header.end());
  blob.insert(blob.end(), iv.begin(), iv.end());
  blob.insert(blob.end(), ciphertext_and_tag.begin(), ciphertext_and_tag.end());
  return blob;
}

std::vector<std::uint8_t> EffectiveAad(std::span<const std::uint8_t> header,
                                       std::span<const std::uint8_t> caller_aad) {
  std::vector<std::uint8_t> aad;
  aad.reserve(header.size() + caller_aad.size());
  aad.insert(aad.end(), header.begin(), header.end());
  aad.insert(aad.end(), caller_aad.begin(), caller_aad.end());
  return aad;
}

}  // namespace kmsd::hsm
