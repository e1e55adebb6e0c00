#include "broker/jose/dev_tokens.h"

#include <openssl/rand.h>

#include <array>
#include <boost/json.hpp>

#include "common/base64.h"

namespace kmsd::jose::dev {
namespace {

std::int64_t Seconds(Instant t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

}  // namespace

Result<std::string> MintIdentityToken(const JwsSigner& signer, const IdentityTokenSpec& spec) {
  boost::json::array roles;
  for (const auto& r : spec.roles) roles.emplace_back(r);
  const std::int64_t iat = Seconds(spec.now);
  return signer.Sign({{"iss", spec.issuer},
                      {"aud", spec.audience},
                      {"sub", spec.subject},
                      {"tenant", spec.tenant},
                      {"roles", std::move(roles)},
                      {"iat", iat},
                      {"exp", iat + spec.ttl.count()}});
}

Result<std::string> MintAuthorizationToken(const JwsSigner& signer,
                                           const AuthorizationTokenSpec& spec) {
  std::string jti = spec.jti;
  if (jti.empty()) {
    std::array<std::uint8_t, 16> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
      return MakeError(ErrorCode::kInternal, "random jti failed");
    }
    jti = Base64UrlEncode(random);
  }
  const std::int64_t now = Seconds(spec.now);
  const std::int64_t exp = now + spec.ttl.count();
  const std::int64_t iat = spec.ttl.count() > 0 ? now : exp - 60;
  boost::json::object claims{{"iss", spec.issuer},
                             {"aud", spec.audience},
                             {"ctx", spec.context_id},
                             {"tenant", spec.tenant},
                             {"jti", jti},
                             {"iat", iat},
                             {"exp", exp}};
  if (spec.subject) claims["sub"] = *spec.subject;
  return signer.Sign(claims);
}

}  // namespace kmsd::jose::dev
