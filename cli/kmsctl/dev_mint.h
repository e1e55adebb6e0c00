// `kmsctl dev token` and `kmsctl dev authz`: mint dev-mode tokens with the
// key files `kmsd --dev` keeps in its data dir (docs/dev-mode.md is the
// contract for file names, kids, issuers and audiences).
//
// Dev mode only. Pure apart from reading the key file; thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/jose/dev_tokens.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::kmsctl {

// One definition of the dev layout and claims, shared with `kmsd --dev`.
inline constexpr std::string_view kDevIdpKeyFile = jose::dev::kIdentityKeyFile;
inline constexpr std::string_view kDevIdpKid = jose::dev::kIdentityKid;
inline constexpr std::string_view kDevIdpIssuer = jose::dev::kIdentityIssuer;
inline constexpr std::string_view kDevStorageKeyFile = jose::dev::kSignerKeyFile;
inline constexpr std::string_view kDevStorageKid = jose::dev::kSignerKid;
inline constexpr std::string_view kDevStorageIssuer = jose::dev::kSignerIssuer;
inline constexpr std::string_view kDevAudience = jose::dev::kBrokerId;
static_assert(jose::dev::kIdentityAudience == jose::dev::kBrokerId,
              "dev mode uses one audience for both token kinds");

// "[-]N{s|m|h}", e.g. "90s", "5m", "1h", "-1m". kInvalidArgument otherwise
// (including overflow beyond ±10 years).
Result<std::chrono::seconds> ParseTtl(std::string_view text);

// "encrypt,decrypt,admin" → {"encrypt", "decrypt", "admin"}; each must be one
// of those three, none twice, at least one. kInvalidArgument otherwise.
Result<std::vector<std::string>> ParseRoles(std::string_view text);

struct DevTokenSpec {
  std::filesystem::path data_dir;
  std::string tenant;
  std::string subject;
  std::vector<std::string> roles;
  std::chrono::seconds ttl{3600};
  Instant now;
};

// Reads DIR/dev-idp.key (ES256, or EdDSA if that is what the file holds) and
// signs {iss, aud, sub, tenant, roles, iat, nbf, exp, jti}; kid "dev-idp".
// For ttl <= 0, exp = now + ttl - 60 s (kmsd's default leeway: the token is
// refused as expired, even for --ttl=0s) and iat = nbf = exp - 60 s, so the
// token reads as expired, not malformed.
// Errors: kNotFound/kPermissionDenied/kInvalidArgument for the key file.
Result<std::string> MintDevToken(const DevTokenSpec& spec);

struct DevAuthzSpec {
  std::filesystem::path data_dir;
  std::string tenant;
  std::string context_id;
  std::optional<std::string> subject;
  std::chrono::seconds ttl{300};
  Instant now;
};

// Reads DIR/dev-storage-signer.key and signs {iss, aud, ctx, tenant, iat,
// exp, jti (random), sub?}; kid "dev-storage-signer". A ttl <= 0 is expired
// by kmsd's default leeway too, as for MintDevToken.
Result<std::string> MintDevAuthz(const DevAuthzSpec& spec);

}  // namespace kmsd::kmsctl
