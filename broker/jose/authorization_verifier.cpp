#include "broker/jose/authorization_verifier.h"

#include "broker/jose/claims.h"
#include "broker/jose/jws.h"

namespace kmsd::jose {
namespace {

constexpr ErrorCode kCode = ErrorCode::kInvalidAuthorizationToken;

Error Fail(TokenFailure f) { return TokenError(kCode, f); }

}  // namespace

AuthorizationTokenVerifier::AuthorizationTokenVerifier(AuthorizationVerifierConfig config,
                                                       std::shared_ptr<JtiReplayCache> replay_cache)
    : config_(std::move(config)), replay_cache_(std::move(replay_cache)) {}

namespace {
bool ValidSigners(const TenantSigners& signers) {
  return !signers.issuer.empty() && signers.keys && !signers.keys->empty() &&
         signers.keys->OnlyUses(kSignerAlgorithms);
}
}  // namespace

Status AuthorizationTokenVerifier::SetTenantSigners(std::string tenant, TenantSigners signers) {
  if (tenant.empty() || !ValidSigners(signers)) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid tenant signer set");
  }
  std::lock_guard lock(mutex_);
  signers_.insert_or_assign(std::move(tenant), std::move(signers));
  return {};
}

Status AuthorizationTokenVerifier::SetDefaultSigners(TenantSigners signers) {
  if (!ValidSigners(signers)) return MakeError(ErrorCode::kInvalidArgument, "invalid signer set");
  std::lock_guard lock(mutex_);
  default_signers_ = std::move(signers);
  return {};
}

void AuthorizationTokenVerifier::RemoveTenant(std::string_view tenant) {
  std::lock_guard lock(mutex_);
  if (const auto it = signers_.find(tenant); it != signers_.end()) signers_.erase(it);
}

std::optional<TenantSigners> AuthorizationTokenVerifier::SignersOf(std::string_view tenant) const {
  std::lock_guard lock(mutex_);
  const auto it = signers_.find(tenant);
  if (it == signers_.end()) return default_signers_;
  return it->second;
}

Result<AuthorizationClaims> AuthorizationTokenVerifier::Verify(std::string_view token,
                                                               const AuthorizationRequest& request,
                                                               Instant now) {
  if (token.size() > kMaxTokenBytes) return Fail(TokenFailure::kTooLarge);
  const auto signers = SignersOf(request.tenant);
  if (!signers) return Fail(TokenFailure::kUnknownTenant);

  const VerifyOptions options{kSignerAlgorithms, /*allow_missing_kid_with_single_key=*/false,
                              kCode};
  auto jws = VerifyJws(token, *signers->keys, options);
  if (!jws) return jws.error();
  auto claims = ParseClaims(jws->payload, kCode);
  if (!claims) return claims.error();

  auto iss = RequiredString(*claims, "iss", kCode);
  if (!iss) return iss.error();
  if (*iss != signers->issuer) return Fail(TokenFailure::kIssuerMismatch);
  if (!claims->contains("aud")) return Fail(TokenFailure::kMissingClaim);
  if (!AudienceContains(*claims, config_.broker_id)) return Fail(TokenFailure::kAudienceMismatch);

  auto ctx = RequiredString(*claims, "ctx", kCode);
  if (!ctx) return ctx.error();
  if (*ctx != request.context_id) return Fail(TokenFailure::kContextMismatch);
  auto tenant = RequiredString(*claims, "tenant", kCode);
  if (!tenant) return tenant.error();
  if (*tenant != request.tenant) return Fail(TokenFailure::kTenantMismatch);
  auto sub = OptionalString(*claims, "sub", kCode);
  if (!sub) return sub.error();
  if (sub->has_value() && **sub != request.principal) return Fail(TokenFailure::kSubjectMismatch);
  auto jti = RequiredString(*claims, "jti", kCode, config_.max_jti_bytes);
  if (!jti) return jti.error();

  auto exp = OptionalNumericDate(*claims, "exp", kCode);
  auto iat = OptionalNumericDate(*claims, "iat", kCode);
  auto nbf = OptionalNumericDate(*claims, "nbf", kCode);
  if (!exp) return exp.error();
  if (!iat) return iat.error();
  if (!nbf) return nbf.error();
  if (!exp->has_value() || !iat->has_value()) return Fail(TokenFailure::kMissingClaim);
  const auto leeway = std::chrono::duration_cast<std::chrono::microseconds>(config_.leeway);
  const auto max_lifetime =
      std::chrono::duration_cast<std::chrono::microseconds>(config_.max_lifetime);
  if (**iat >= **exp) return Fail(TokenFailure::kInvalidClaim);
  if (**exp - **iat > max_lifetime) return Fail(TokenFailure::kLifetimeTooLong);
  if (**iat > now + leeway) return Fail(TokenFailure::kIssuedInFuture);
  if (now >= **exp + leeway) return Fail(TokenFailure::kExpired);
  if (nbf->has_value() && now < **nbf - leeway) return Fail(TokenFailure::kNotYetValid);

  // Everything verified: only now may the jti be spent.
  auto recorded = replay_cache_->RecordIfNew(request.tenant, *jti, **exp + leeway, now);
  if (!recorded) return recorded.error();
  if (!*recorded) return Fail(TokenFailure::kReplayed);

  return AuthorizationClaims{std::move(*iss), std::move(*ctx),     std::move(*tenant),
                             std::move(*jti), std::move(*sub),     **iat,
                             **exp,           std::move(jws->kid), jws->alg};
}

}  // namespace kmsd::jose
