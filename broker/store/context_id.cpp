#include "broker/store/context_id.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>

namespace kmsd::store {
namespace {

constexpr std::int64_t kMaxUnixMillis48 = (std::int64_t{1} << 48) - 1;

bool IsContextIdChar(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '.':
    case '_':
    case '~':
    case ':':
    case '/':
    case '-': return true;
    default: return false;
  }
}

}  // namespace

Result<std::string> NewContextIdV7(Instant now) {
  const std::int64_t micros = ToUnixMicros(now);
  if (micros < 0) return MakeError(ErrorCode::kInvalidArgument, "context id: time before 1970");
  const std::int64_t millis = micros / 1000;
  if (millis > kMaxUnixMillis48) {
    return MakeError(ErrorCode::kInvalidArgument, "context id: time beyond the UUIDv7 range");
  }

  std::array<std::uint8_t, 16> b{};
  // Bytes 6..15 are random; the version and variant bits are then overwritten.
  if (RAND_bytes(b.data() + 6, 10) != 1) {
    return MakeError(ErrorCode::kInternal, "context id: random generator failed");
  }
  const auto ms = static_cast<std::uint64_t>(millis);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // variant 0b10

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

Result<std::string> NewContextIdV7(const Clock& clock) { return NewContextIdV7(clock.Now()); }

Status ValidateContextId(std::string_view id) {
  if (id.empty()) return MakeError(ErrorCode::kInvalidArgument, "context id is empty");
  if (id.size() > kMaxContextIdLength) {
    return MakeError(ErrorCode::kInvalidArgument, "context id longer than 128 characters");
  }
  for (const char c : id) {
    if (!IsContextIdChar(c)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "context id has a character outside [A-Za-z0-9._~:/-]");
    }
  }
  return {};
}

}  // namespace kmsd::store
