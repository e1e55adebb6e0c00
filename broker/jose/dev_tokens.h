// Dev-mode token minting shared by `kmsd --dev` and `kmsctl dev token/authz`,
// so both agree on key file names, kids, issuers and audiences.
//
// Dev mode only: production tokens come from the customer's identity provider
// and storage servers. Pure functions over a JwsSigner; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/jose/signer.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::jose::dev {

// Files under the dev data dir, written by EnsureDevKeyPair (docs/dev-mode.md).
inline constexpr std::string_view kIdentityKeyFile = "dev-idp.key";
inline constexpr std::string_view kIdentityJwksFile = "dev-idp.jwks.json";
inline constexpr std::string_view kSignerKeyFile = "dev-storage-signer.key";
inline constexpr std::string_view kSignerJwksFile = "dev-storage-signer.jwks.json";

inline constexpr std::string_view kIdentityKid = "dev-idp";
inline constexpr Algorithm kIdentityAlgorithm = Algorithm::kES256;
inline constexpr std::string_view kIdentityIssuer = "kmsd-dev-idp";
inline constexpr std::string_view kIdentityAudience = "kmsd";

inline constexpr std::string_view kSignerKid = "dev-storage-signer";
inline constexpr Algorithm kSignerAlgorithm = Algorithm::kES256;
inline constexpr std::string_view kSignerIssuer = "kmsd-dev-storage";
inline constexpr std::string_view kBrokerId = "kmsd";

struct IdentityTokenSpec {
  std::string issuer{kIdentityIssuer};
  std::string audience{kIdentityAudience};
  std::string tenant;
  std::string subject;
  std::vector<std::string> roles;  // e.g. {"encrypt", "decrypt", "admin"}
  std::chrono::seconds ttl{3600};
  Instant now;
};

// Claims iss, aud, sub, tenant, roles, iat = now, exp = now + ttl.
Result<std::string> MintIdentityToken(const JwsSigner& signer, const IdentityTokenSpec& spec);

struct AuthorizationTokenSpec {
  std::string issuer{kSignerIssuer};
  std::string audience{kBrokerId};
  std::string tenant;
  std::string context_id;
  std::optional<std::string> subject;
  std::chrono::seconds ttl{300};  // may be negative, to mint an expired token
  Instant now;
  std::string jti;  // empty: 128 random bits, base64url
};

// Claims iss, aud, ctx, tenant, jti, [sub], exp = now + ttl, and iat = now,
// or for ttl <= 0 iat = exp - 60 s so the token reads as expired, not as
// malformed.
Result<std::string> MintAuthorizationToken(const JwsSigner& signer,
                                           const AuthorizationTokenSpec& spec);

}  // namespace kmsd::jose::dev
