// AuthorizationTokenVerifier: the data holder's token on every decrypt.
//
// The storage server that holds encrypted data signs, per decryption, a
// compact JWS (ES256 or EdDSA only) with a key the tenant registered. A token
// is accepted when, in this order:
//   1. the caller's tenant has registered signers, or default signers are set
//      (dev mode) (else "no signer for tenant");
//   2. VerifyJws passes against that tenant's keys, `kid` required;
//   3. claims (strict JSON object): `iss` == the tenant's configured issuer;
//      `aud` == broker_id (string or array holding it); `ctx` == the requested
//      context id; `tenant` == the caller's tenant; `jti` non-empty string of
//      at most max_jti_bytes; `iat` and `exp` required, iat <= now + leeway,
//      now < exp + leeway, iat < exp, exp - iat <= max_lifetime; `nbf` when
//      present, now >= nbf - leeway; `sub` when present == the caller;
//   4. only then is the jti recorded in the replay cache (until exp + leeway,
//      the last instant the token could verify); a replay is refused.
// Failures: ErrorCode::kInvalidAuthorizationToken with TokenFailureName(reason)
// as message; a replay cache that cannot record passes its own error on.
//
// Thread-safe: Verify, SetTenantSigners and RemoveTenant may run concurrently;
// signer sets are swapped atomically.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "broker/jose/jti_replay_cache.h"
#include "broker/jose/key_set.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::jose {

struct AuthorizationVerifierConfig {
  std::string broker_id;  // the required `aud`
  std::chrono::seconds leeway{60};
  std::chrono::seconds max_lifetime{600};
  std::size_t max_jti_bytes = 128;
};

// Who asks, and for what: taken from the authenticated identity and the
// request path/body, never from the token.
struct AuthorizationRequest {
  std::string_view tenant;
  std::string_view principal;
  std::string_view context_id;
};

struct AuthorizationClaims {
  std::string issuer;
  std::string context_id;
  std::string tenant;
  std::string jti;
  std::optional<std::string> subject;
  Instant issued_at;
  Instant expires_at;
  std::string kid;  // the signer key that verified
  Algorithm alg;
};

struct TenantSigners {
  std::string issuer;                  // the required `iss`
  std::shared_ptr<const KeySet> keys;  // ES256 / EdDSA keys only
};

class AuthorizationTokenVerifier {
 public:
  AuthorizationTokenVerifier(AuthorizationVerifierConfig config,
                             std::shared_ptr<JtiReplayCache> replay_cache);

  // Installs (or replaces) a tenant's signers. kInvalidArgument when the
  // issuer is empty, the set is empty or holds a key not bound to ES256/EdDSA.
  Status SetTenantSigners(std::string tenant, TenantSigners signers);
  void RemoveTenant(std::string_view tenant);
  // Signers trusted for every tenant that has none of its own (dev mode:
  // the dev storage server signs for all dev tenants). Never set in
  // production, where tenants exist only by configuration.
  Status SetDefaultSigners(TenantSigners signers);

  Result<AuthorizationClaims> Verify(std::string_view token, const AuthorizationRequest& request,
                                     Instant now);

  // Gives back the jti of a verified token whose request then released
  // nothing (JtiReplayCache::Forget), so that the client may retry with it.
  Status ReleaseJti(std::string_view tenant, std::string_view jti) {
    return replay_cache_->Forget(tenant, jti);
  }

 private:
  std::optional<TenantSigners> SignersOf(std::string_view tenant) const;

  const AuthorizationVerifierConfig config_;
  const std::shared_ptr<JtiReplayCache> replay_cache_;
  mutable std::mutex mutex_;  // guards signers_
  std::map<std::string, TenantSigners, std::less<>> signers_;
  std::optional<TenantSigners> default_signers_;
};

}  // namespace kmsd::jose
