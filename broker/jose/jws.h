// Verification of JWS compact serialization (RFC 7515 §7.1), nothing else.
//
// VerifyJws checks, in this order, and stops at the first failure:
//   1. size <= kMaxTokenBytes, before any parsing;
//   2. exactly three '.'-separated segments, the header canonical unpadded
//      base64url;
//   3. the header is a strict-JSON object (duplicate keys refused) with
//      `alg` a string: `none` in any case and every HS*/hs* refused, then
//      only ES256, EdDSA, RS256, PS256 in `allowed`; `crit` refused (no
//      extension is understood); `b64` other than true refused; `kid`, when
//      present, a string that selects a key from the fixed KeySet by exact
//      match (absent: accepted only when options allow it and the set holds
//      one key); `typ` optional. `jwk`, `jku`, `x5u`, `x5c` are never used;
//   4. the header `alg` equals the algorithm the key is bound to;
//   5. payload and signature are canonical unpadded base64url, the signature
//      non-empty ("bad signature" when stripped) and it verifies
//      (VerifySignature, algorithm.h).
// The payload is returned as bytes: parsing it is the caller's job, and only
// happens on verified tokens.
//
// Failures carry the caller's ErrorCode and a message that is exactly
// TokenFailureName(reason): a category for logs and audit, never token bytes.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "broker/jose/algorithm.h"
#include "broker/jose/key_set.h"
#include "common/result.h"

namespace kmsd::jose {

inline constexpr std::size_t kMaxTokenBytes = 8192;

enum class TokenFailure {
  kTooLarge,
  kMalformed,  // segments, base64url, JSON, types of header members
  kAlgNone,
  kAlgHmac,
  kAlgUnsupported,  // unknown name, or not allowed for this verifier
  kAlgMismatch,     // header alg differs from the key's bound algorithm
  kMissingKid,
  kUnknownKid,
  kCritUnsupported,
  kBadSignature,
  kMissingClaim,
  kInvalidClaim,  // a claim has the wrong type or an out-of-range value
  kExpired,
  kNotYetValid,
  kIssuedInFuture,
  kLifetimeTooLong,
  kIssuerMismatch,
  kAudienceMismatch,
  kContextMismatch,
  kTenantMismatch,
  kSubjectMismatch,
  kUnknownTenant,  // no signer keys registered for the caller's tenant
  kReplayed,
};

// Stable category text, e.g. "expired", "bad signature", "unknown kid".
std::string_view TokenFailureName(TokenFailure failure) noexcept;

inline Error TokenError(ErrorCode code, TokenFailure failure) {
  return MakeError(code, std::string(TokenFailureName(failure)));
}

struct VerifyOptions {
  AlgorithmSet allowed = kAllAlgorithms;
  // When false, a header without `kid` is refused whatever the set holds.
  bool allow_missing_kid_with_single_key = false;
  ErrorCode failure_code = ErrorCode::kUnauthenticated;
};

struct VerifiedJws {
  boost::json::object header;
  std::string payload;  // the decoded payload bytes, unparsed
  std::string kid;      // the selected key's kid
  Algorithm alg;
};

Result<VerifiedJws> VerifyJws(std::string_view token, const KeySet& keys,
                              const VerifyOptions& options);

}  // namespace kmsd::jose
