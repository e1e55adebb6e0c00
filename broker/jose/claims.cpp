#include "broker/jose/claims.h"

#include <cmath>

#include "common/json/strict_json.h"

namespace kmsd::jose {
namespace {

constexpr std::int64_t kMaxNumericDate = 253402300799;  // 9999-12-31T23:59:59Z

// C0, DEL and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F; the JSON parser has
// checked that the text is UTF-8).
bool HasControlChars(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return true;
  }
  return false;
}

}  // namespace

Result<boost::json::object> ParseClaims(std::string_view payload, ErrorCode code) {
  auto value = json::ParseStrictJson(payload);
  if (!value || !value->is_object()) return TokenError(code, TokenFailure::kMalformed);
  return std::move(value->as_object());
}

Result<std::optional<std::string>> OptionalString(const boost::json::object& claims,
                                                  std::string_view name, ErrorCode code,
                                                  std::size_t max_bytes) {
  const auto* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return TokenError(code, TokenFailure::kInvalidClaim);
  const std::string_view s = v->as_string();
  if (s.empty() || s.size() > max_bytes || HasControlChars(s)) {
    return TokenError(code, TokenFailure::kInvalidClaim);
  }
  return std::optional<std::string>(std::string(s));
}

Result<std::string> RequiredString(const boost::json::object& claims, std::string_view name,
                                   ErrorCode code, std::size_t max_bytes) {
  auto s = OptionalString(claims, name, code, max_bytes);
  if (!s) return s.error();
  if (!s->has_value()) return TokenError(code, TokenFailure::kMissingClaim);
  return std::move(**s);
}

Result<std::optional<Instant>> OptionalNumericDate(const boost::json::object& claims,
                                                   std::string_view name, ErrorCode code) {
  const auto* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<Instant>();
  const auto bad = [&] { return TokenError(code, TokenFailure::kInvalidClaim); };
  std::int64_t micros = 0;
  if (v->is_int64()) {
    const std::int64_t s = v->as_int64();
    if (s < 0 || s > kMaxNumericDate) return bad();
    micros = s * 1'000'000;
  } else if (v->is_uint64()) {
    return bad();  // only values beyond int64, far beyond kMaxNumericDate
  } else if (v->is_double()) {
    const double d = v->as_double();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxNumericDate)) return bad();
    micros = static_cast<std::int64_t>(std::floor(d * 1e6));
  } else {
    return bad();
  }
  return std::optional<Instant>(FromUnixMicros(micros));
}

bool AudienceContains(const boost::json::object& claims, std::string_view audience) {
  const auto* aud = claims.if_contains("aud");
  if (aud == nullptr) return false;
  if (aud->is_string()) return aud->as_string() == audience;
  if (!aud->is_array()) return false;
  for (const auto& entry : aud->as_array()) {
    if (entry.is_string() && entry.as_string() == audience) return true;
  }
  return false;
}

}  // namespace kmsd::jose
