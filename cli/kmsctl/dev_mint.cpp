#include "cli/kmsctl/dev_mint.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <charconv>
#include <set>
#include <system_error>

#include "broker/jose/authorization_verifier.h"
#include "broker/jose/dev_tokens.h"
#include "broker/jose/identity_verifier.h"
#include "broker/jose/signer.h"
#include "common/base64.h"

namespace kmsd::kmsctl {
namespace {

// The dev key files are ES256 per docs/dev-mode.md; accept an Ed25519 file
// too, so a data dir made by another kmsd version still works.
Result<jose::JwsSigner> LoadSigner(const std::filesystem::path& path, std::string_view kid) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return MakeError(ErrorCode::kNotFound,
                     "no key file " + path.string() + ": is this a `kmsd --dev` data dir?");
  }
  auto pem = jose::ReadPrivateKeyFile(path);
  if (!pem) return pem.error();
  auto signer = jose::JwsSigner::FromPrivateKeyPem(std::string(kid), *pem, jose::Algorithm::kES256);
  if (signer) return signer;
  return jose::JwsSigner::FromPrivateKeyPem(std::string(kid), *pem, jose::Algorithm::kEdDSA);
}

std::string RandomJti() {
  std::array<std::uint8_t, 16> bytes{};
  RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
  return Base64UrlEncode(bytes);
}

std::int64_t Seconds(Instant t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A TTL <= 0 asks for a token that kmsd refuses as expired. Its verifiers
// accept a token until exp + leeway (60 s by default, docs/tokens.md), so
// exp goes back that much further: --ttl=-1s is expired, not 59 s valid.
std::chrono::seconds ExpiredByLeeway(std::chrono::seconds ttl) {
  if (ttl.count() > 0) return ttl;
  return ttl - std::max(jose::AuthorizationVerifierConfig{}.leeway,
                        jose::IdentityVerifierConfig{}.leeway);
}

}  // namespace

Result<std::chrono::seconds> ParseTtl(std::string_view text) {
  const auto bad = MakeError(ErrorCode::kInvalidArgument,
                             "a TTL is a whole number with a unit s, m or h, e.g. 5m or -1m");
  if (text.size() < 2) return bad;
  const char unit = text.back();
  const std::int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
  if (scale == 0) return bad;
  auto digits = text.substr(0, text.size() - 1);
  bool negative = false;
  if (digits.starts_with('-')) {
    negative = true;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return bad;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) return bad;
  constexpr std::int64_t kTenYears = 10LL * 366 * 24 * 3600;
  if (value > kTenYears / scale) return bad;
  return std::chrono::seconds((negative ? -value : value) * scale);
}

Result<std::vector<std::string>> ParseRoles(std::string_view text) {
  static const std::set<std::string, std::less<>> kKnown{"encrypt", "decrypt", "admin"};
  std::vector<std::string> roles;
  std::set<std::string, std::less<>> seen;
  while (true) {
    const auto comma = text.find(',');
    const auto role = text.substr(0, comma);
    if (!kKnown.contains(role) || !seen.insert(std::string(role)).second) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--roles is a comma-separated list of encrypt, decrypt, admin");
    }
    roles.emplace_back(role);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return roles;
}

Result<std::string> MintDevToken(const DevTokenSpec& spec) {
  if (spec.tenant.empty() || spec.subject.empty() || spec.roles.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a dev token needs a tenant, subject and roles");
  }
  auto signer = LoadSigner(spec.data_dir / kDevIdpKeyFile, kDevIdpKid);
  if (!signer) return signer.error();
  const std::int64_t exp = Seconds(spec.now) + ExpiredByLeeway(spec.ttl).count();
  const std::int64_t iat = spec.ttl.count() > 0 ? Seconds(spec.now) : exp - 60;
  boost::json::array roles;
  for (const auto& role : spec.roles) roles.emplace_back(role);
  return signer->Sign(boost::json::object{{"iss", kDevIdpIssuer},
                                          {"aud", kDevAudience},
                                          {"sub", spec.subject},
                                          {"tenant", spec.tenant},
                                          {"roles", std::move(roles)},
                                          {"iat", iat},
                                          {"nbf", iat},
                                          {"exp", exp},
                                          {"jti", RandomJti()}});
}

Result<std::string> MintDevAuthz(const DevAuthzSpec& spec) {
  if (spec.tenant.empty() || spec.context_id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "an authorization token needs a tenant and a context id");
  }
  auto signer = LoadSigner(spec.data_dir / kDevStorageKeyFile, kDevStorageKid);
  if (!signer) return signer.error();
  jose::dev::AuthorizationTokenSpec token;
  token.issuer = std::string(kDevStorageIssuer);
  token.audience = std::string(kDevAudience);
  token.tenant = spec.tenant;
  token.context_id = spec.context_id;
  token.subject = spec.subject;
  token.ttl = ExpiredByLeeway(spec.ttl);
  token.now = spec.now;
  token.jti = RandomJti();
  return jose::dev::MintAuthorizationToken(*signer, token);
}

}  // namespace kmsd::kmsctl
