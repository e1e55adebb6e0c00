// IdentityVerifier: bearer tokens from the customer's identity provider.
//
// A token is accepted when VerifyJws (jws.h) passes against the current key
// set (any of ES256, EdDSA, RS256, PS256 as each key is bound; a missing
// `kid` is allowed only while the set holds a single key) and its claims
// hold: `iss` == issuer; `aud` == audience (string or array containing it);
// `sub` non-empty string (the principal); the tenant claim a string matching
// [A-Za-z0-9][A-Za-z0-9._-]{0,63}; `exp` required, now < exp + leeway; `nbf`
// when present, now >= nbf - leeway; `iat` when present, iat <= now + leeway.
// The roles claim (array of strings, or one space-separated string; absent =
// no roles) is mapped through role_mapping; unknown values are ignored.
//
// Verified tokens are cached by SHA-256 of the token text, bounded
// (cache_capacity entries, least recently used evicted), never past their
// `exp`: a hit is used only while nbf - leeway <= now < exp, otherwise the
// token is verified again in full. ReplaceKeys swaps the key set atomically
// and empties the cache; a verification that raced with it is not cached.
//
// Every failure is ErrorCode::kUnauthenticated with TokenFailureName(reason)
// as message. Thread-safe: Verify and ReplaceKeys may be called concurrently.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/jose/jws.h"
#include "broker/jose/key_set.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::jose {

enum class Role : std::uint8_t { kEncrypt = 1, kDecrypt = 2, kAdmin = 4 };

class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr void Add(Role r) { bits_ |= static_cast<std::uint8_t>(r); }
  constexpr bool Has(Role r) const { return (bits_ & static_cast<std::uint8_t>(r)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  friend constexpr bool operator==(RoleSet, RoleSet) = default;

 private:
  std::uint8_t bits_ = 0;
};

struct Identity {
  std::string tenant;
  std::string principal;  // the `sub` claim
  RoleSet roles;
  Instant expires_at;  // the token's `exp`

  friend bool operator==(const Identity&, const Identity&) = default;
};

struct IdentityVerifierConfig {
  std::string issuer;
  std::string audience;
  std::chrono::seconds leeway{60};
  std::string tenant_claim = "tenant";
  std::string roles_claim = "roles";
  // Claim value -> role. Values not listed are ignored.
  std::map<std::string, Role, std::less<>> role_mapping = {
      {"encrypt", Role::kEncrypt}, {"decrypt", Role::kDecrypt}, {"admin", Role::kAdmin}};
  std::size_t cache_capacity = 10000;  // 0 disables the cache
};

class IdentityVerifier {
 public:
  IdentityVerifier(IdentityVerifierConfig config, std::shared_ptr<const KeySet> keys);

  Result<Identity> Verify(std::string_view bearer_token, Instant now);

  // Atomically installs a new key set (e.g. after SIGHUP) and empties the cache.
  void ReplaceKeys(std::shared_ptr<const KeySet> keys);

  std::size_t cached_tokens() const;
  // Full verifications (signature and claims) performed: a cache hit adds none.
  std::uint64_t full_verifications() const;

 private:
  using Digest = std::array<std::uint8_t, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  struct CacheEntry {
    Digest digest;
    Identity identity;
    Instant valid_from;  // nbf - leeway, or the epoch
  };

  Result<Identity> VerifyUncached(std::string_view token, const KeySet& keys, Instant now,
                                  Instant* valid_from) const;
  void Insert(const Digest& digest, const Identity& identity, Instant valid_from,
              std::uint64_t generation);

  const IdentityVerifierConfig config_;
  mutable std::mutex mutex_;  // guards everything below
  std::shared_ptr<const KeySet> keys_;
  std::uint64_t generation_ = 0;  // bumped by ReplaceKeys
  std::uint64_t full_verifications_ = 0;
  std::list<CacheEntry> lru_;  // most recent first
  std::unordered_map<Digest, std::list<CacheEntry>::iterator, DigestHash> index_;
};

}  // namespace kmsd::jose
