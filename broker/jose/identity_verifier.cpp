#include "broker/jose/identity_verifier.h"

#include <openssl/evp.h>

#include <cstring>

#include "broker/jose/claims.h"

namespace kmsd::jose {
namespace {

constexpr ErrorCode kCode = ErrorCode::kUnauthenticated;
constexpr std::size_t kMaxTenantBytes = 64;

bool IsTenantId(std::string_view t) {
  if (t.empty() || t.size() > kMaxTenantBytes) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

void MapRole(std::string_view value, const IdentityVerifierConfig& config, RoleSet& roles) {
  if (const auto it = config.role_mapping.find(value); it != config.role_mapping.end()) {
    roles.Add(it->second);
  }
}

Result<RoleSet> ParseRoles(const boost::json::object& claims,
                           const IdentityVerifierConfig& config) {
  RoleSet roles;
  const auto* v = claims.if_contains(config.roles_claim);
  if (v == nullptr) return roles;
  if (v->is_string()) {
    std::string_view rest = v->as_string();
    while (!rest.empty()) {
      const std::size_t space = rest.find(' ');
      MapRole(rest.substr(0, space), config, roles);
      if (space == std::string_view::npos) break;
      rest.remove_prefix(space + 1);
    }
    return roles;
  }
  if (!v->is_array()) return TokenError(kCode, TokenFailure::kInvalidClaim);
  for (const auto& entry : v->as_array()) {
    if (!entry.is_string()) return TokenError(kCode, TokenFailure::kInvalidClaim);
    MapRole(entry.as_string(), config, roles);
  }
  return roles;
}

}  // namespace

std::size_t IdentityVerifier::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
  return h;
}

IdentityVerifier::IdentityVerifier(IdentityVerifierConfig config,
                                   std::shared_ptr<const KeySet> keys)
    : config_(std::move(config)), keys_(std::move(keys)) {}

void IdentityVerifier::ReplaceKeys(std::shared_ptr<const KeySet> keys) {
  std::lock_guard lock(mutex_);
  keys_ = std::move(keys);
  ++generation_;
  lru_.clear();
  index_.clear();
}

std::size_t IdentityVerifier::cached_tokens() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

std::uint64_t IdentityVerifier::full_verifications() const {
  std::lock_guard lock(mutex_);
  return full_verifications_;
}

Result<Identity> IdentityVerifier::Verify(std::string_view bearer_token, Instant now) {
  // Checked before hashing so that an oversized token costs nothing.
  if (bearer_token.size() > kMaxTokenBytes) return TokenError(kCode, TokenFailure::kTooLarge);
  Digest digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(bearer_token.data(), bearer_token.size(), digest.data(), &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return MakeError(ErrorCode::kInternal, "sha-256 failed");
  }

  std::shared_ptr<const KeySet> keys;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = index_.find(digest); it != index_.end()) {
      const CacheEntry& entry = *it->second;
      if (entry.valid_from <= now && now < entry.identity.expires_at) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return entry.identity;
      }
      // Outside its cached window: drop it and verify in full (which may still
      // accept within the leeway, or refuse).
      lru_.erase(it->second);
      index_.erase(it);
    }
    keys = keys_;
    generation = generation_;
    ++full_verifications_;
  }
  if (!keys) return TokenError(kCode, TokenFailure::kUnknownKid);

  Instant valid_from{};
  auto identity = VerifyUncached(bearer_token, *keys, now, &valid_from);
  if (!identity) return identity;
  // Never cache what is already past exp (accepted within the leeway only).
  if (now < identity->expires_at) Insert(digest, *identity, valid_from, generation);
  return identity;
}

void IdentityVerifier::Insert(const Digest& digest, const Identity& identity, Instant valid_from,
                              std::uint64_t generation) {
  if (config_.cache_capacity == 0) return;
  std::lock_guard lock(mutex_);
  if (generation != generation_ || index_.contains(digest)) return;
  while (lru_.size() >= config_.cache_capacity) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
  lru_.push_front(CacheEntry{digest, identity, valid_from});
  index_.emplace(digest, lru_.begin());
}

Result<Identity> IdentityVerifier::VerifyUncached(std::string_view token, const KeySet& keys,
                                                  Instant now, Instant* valid_from) const {
  const VerifyOptions options{kAllAlgorithms, /*allow_missing_kid_with_single_key=*/true, kCode};
  auto jws = VerifyJws(token, keys, options);
  if (!jws) return jws.error();
  auto claims = ParseClaims(jws->payload, kCode);
  if (!claims) return claims.error();

  auto iss = RequiredString(*claims, "iss", kCode);
  if (!iss) return iss.error();
  if (*iss != config_.issuer) return TokenError(kCode, TokenFailure::kIssuerMismatch);
  if (!claims->contains("aud")) return TokenError(kCode, TokenFailure::kMissingClaim);
  if (!AudienceContains(*claims, config_.audience)) {
    return TokenError(kCode, TokenFailure::kAudienceMismatch);
  }

  auto exp = OptionalNumericDate(*claims, "exp", kCode);
  auto nbf = OptionalNumericDate(*claims, "nbf", kCode);
  auto iat = OptionalNumericDate(*claims, "iat", kCode);
  if (!exp) return exp.error();
  if (!nbf) return nbf.error();
  if (!iat) return iat.error();
  if (!exp->has_value()) return TokenError(kCode, TokenFailure::kMissingClaim);
  const auto leeway = std::chrono::duration_cast<std::chrono::microseconds>(config_.leeway);
  if (now >= **exp + leeway) return TokenError(kCode, TokenFailure::kExpired);
  if (nbf->has_value() && now < **nbf - leeway) {
    return TokenError(kCode, TokenFailure::kNotYetValid);
  }
  if (iat->has_value() && **iat > now + leeway) {
    return TokenError(kCode, TokenFailure::kIssuedInFuture);
  }

  auto sub = RequiredString(*claims, "sub", kCode);
  if (!sub) return sub.error();
  auto tenant = RequiredString(*claims, config_.tenant_claim, kCode);
  if (!tenant) return tenant.error();
  if (!IsTenantId(*tenant)) return TokenError(kCode, TokenFailure::kInvalidClaim);
  auto roles = ParseRoles(*claims, config_);
  if (!roles) return roles.error();

  *valid_from = nbf->has_value() ? **nbf - leeway : Instant{};
  if (iat->has_value()) *valid_from = std::max(*valid_from, **iat - leeway);
  return Identity{std::move(*tenant), std::move(*sub), *roles, **exp};
}

}  // namespace kmsd::jose
