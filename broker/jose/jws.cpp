#include "broker/jose/jws.h"

#include <algorithm>
#include <cctype>

#include "common/base64.h"
#include "common/json/strict_json.h"

namespace kmsd::jose {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string_view TokenFailureName(TokenFailure failure) noexcept {
  switch (failure) {
    case TokenFailure::kTooLarge: return "token too large";
    case TokenFailure::kMalformed: return "malformed token";
    case TokenFailure::kAlgNone: return "alg none refused";
    case TokenFailure::kAlgHmac: return "hmac alg refused";
    case TokenFailure::kAlgUnsupported: return "alg not allowed";
    case TokenFailure::kAlgMismatch: return "alg does not match key";
    case TokenFailure::kMissingKid: return "missing kid";
    case TokenFailure::kUnknownKid: return "unknown kid";
    case TokenFailure::kCritUnsupported: return "unsupported crit";
    case TokenFailure::kBadSignature: return "bad signature";
    case TokenFailure::kMissingClaim: return "missing claim";
    case TokenFailure::kInvalidClaim: return "invalid claim";
    case TokenFailure::kExpired: return "expired";
    case TokenFailure::kNotYetValid: return "not yet valid";
    case TokenFailure::kIssuedInFuture: return "issued in the future";
    case TokenFailure::kLifetimeTooLong: return "lifetime too long";
    case TokenFailure::kIssuerMismatch: return "issuer mismatch";
    case TokenFailure::kAudienceMismatch: return "audience mismatch";
    case TokenFailure::kContextMismatch: return "context mismatch";
    case TokenFailure::kTenantMismatch: return "tenant mismatch";
    case TokenFailure::kSubjectMismatch: return "subject mismatch";
    case TokenFailure::kUnknownTenant: return "no signer for tenant";
    case TokenFailure::kReplayed: return "replayed jti";
  }
  return "malformed token";
}

Result<VerifiedJws> VerifyJws(std::string_view token, const KeySet& keys,
                              const VerifyOptions& options) {
  const auto fail = [&](TokenFailure f) { return TokenError(options.failure_code, f); };
  if (token.size() > kMaxTokenBytes) return fail(TokenFailure::kTooLarge);

  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(TokenFailure::kMalformed);
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(TokenFailure::kMalformed);
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty()) return fail(TokenFailure::kMalformed);

  auto header_bytes = Base64UrlDecode(header_b64);
  if (!header_bytes) return fail(TokenFailure::kMalformed);

  auto header_value = json::ParseStrictJson(
      {reinterpret_cast<const char*>(header_bytes->data()), header_bytes->size()});
  if (!header_value || !header_value->is_object()) return fail(TokenFailure::kMalformed);
  auto& header = header_value->as_object();

  const auto* alg_value = header.if_contains("alg");
  if (alg_value == nullptr || !alg_value->is_string()) return fail(TokenFailure::kMalformed);
  const std::string_view alg_name = alg_value->as_string();
  const std::string alg_lower = Lower(alg_name);
  if (alg_lower == "none") return fail(TokenFailure::kAlgNone);
  if (alg_lower.starts_with("hs")) return fail(TokenFailure::kAlgHmac);
  const auto alg = ParseAlgorithm(alg_name);
  if (!alg || !options.allowed.Contains(*alg)) return fail(TokenFailure::kAlgUnsupported);

  // We understand no extension, so any crit (even empty, which RFC 7515 §4.1.11
  // forbids) is refused.
  if (header.contains("crit")) return fail(TokenFailure::kCritUnsupported);
  if (const auto* b64 = header.if_contains("b64"); b64 != nullptr) {
    if (!b64->is_bool() || !b64->as_bool()) return fail(TokenFailure::kMalformed);
  }
  if (const auto* typ = header.if_contains("typ"); typ != nullptr && !typ->is_string()) {
    return fail(TokenFailure::kMalformed);
  }

  const VerificationKey* key = nullptr;
  std::string kid;
  if (const auto* kid_value = header.if_contains("kid"); kid_value != nullptr) {
    if (!kid_value->is_string()) return fail(TokenFailure::kMalformed);
    key = keys.Find(kid_value->as_string());
    if (key == nullptr) return fail(TokenFailure::kUnknownKid);
    kid = kid_value->as_string();
  } else {
    if (!options.allow_missing_kid_with_single_key || keys.Sole() == nullptr) {
      return fail(TokenFailure::kMissingKid);
    }
    key = keys.Sole();
    kid = *keys.SoleKid();
  }
  if (key->alg != *alg || !options.allowed.Contains(key->alg)) {
    return fail(TokenFailure::kAlgMismatch);
  }

  // Payload and signature are decoded only once the header names a usable
  // key, so that `alg: none` with a stripped signature reports as such.
  auto payload_bytes = Base64UrlDecode(payload_b64);
  auto signature = Base64UrlDecode(signature_b64);
  if (!payload_bytes || !signature) return fail(TokenFailure::kMalformed);
  if (signature->empty()) return fail(TokenFailure::kBadSignature);

  const std::string_view signing_input = token.substr(0, dot2);
  if (!VerifySignature(
          key->key.get(), key->alg,
          {reinterpret_cast<const std::uint8_t*>(signing_input.data()), signing_input.size()},
          *signature)) {
    return fail(TokenFailure::kBadSignature);
  }
  return VerifiedJws{std::move(header), std::string(payload_bytes->begin(), payload_bytes->end()),
                     std::move(kid), *alg};
}

}  // namespace kmsd::jose
