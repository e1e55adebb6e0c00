#include "broker/jose/dev_tokens.h"

#include <gtest/gtest.h>

#include "broker/jose/authorization_verifier.h"
#include "broker/jose/identity_verifier.h"
#include "jose_test_util.h"

namespace kmsd::jose::dev {
namespace {

using namespace std::chrono_literals;
using jose::testing::ExpectRefused;

const Instant kNow = FromUnixMicros(1'800'000'000'000'000);

TEST(DevTokensTest, IdentityTokenVerifiesWithTheDevDefaults) {
  const JwsSigner idp = jose::testing::NewSigner(std::string(kIdentityKid), kIdentityAlgorithm);
  IdentityVerifier verifier({std::string(kIdentityIssuer), std::string(kIdentityAudience)},
                            jose::testing::KeysOf({&idp}));
  IdentityTokenSpec spec;
  spec.tenant = "t1";
  spec.subject = "dev-user";
  spec.roles = {"encrypt", "admin"};
  spec.now = kNow;
  auto identity = verifier.Verify(MintIdentityToken(idp, spec).value(), kNow);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->tenant, "t1");
  EXPECT_EQ(identity->principal, "dev-user");
  EXPECT_TRUE(identity->roles.Has(Role::kAdmin));
  EXPECT_FALSE(identity->roles.Has(Role::kDecrypt));
  EXPECT_EQ(identity->expires_at, kNow + 3600s);
}

TEST(DevTokensTest, AuthorizationTokenVerifiesOnceAndNegativeTtlReadsAsExpired) {
  const JwsSigner signer = jose::testing::NewSigner(std::string(kSignerKid), kSignerAlgorithm);
  AuthorizationTokenVerifier verifier({std::string(kBrokerId)},
                                      std::make_shared<InMemoryJtiReplayCache>());
  ASSERT_TRUE(verifier.SetTenantSigners(
      "t1", {std::string(kSignerIssuer), jose::testing::KeysOf({&signer})}));
  AuthorizationTokenSpec spec;
  spec.tenant = "t1";
  spec.context_id = "ctx-1";
  spec.subject = "dev-user";
  spec.now = kNow;
  const std::string token = MintAuthorizationToken(signer, spec).value();
  EXPECT_TRUE(verifier.Verify(token, {"t1", "dev-user", "ctx-1"}, kNow));
  ExpectRefused(verifier.Verify(token, {"t1", "dev-user", "ctx-1"}, kNow),
                ErrorCode::kInvalidAuthorizationToken, TokenFailure::kReplayed);
  // Fresh random jti per token.
  EXPECT_TRUE(verifier.Verify(MintAuthorizationToken(signer, spec).value(),
                              {"t1", "dev-user", "ctx-1"}, kNow));
  spec.ttl = -300s;
  ExpectRefused(verifier.Verify(MintAuthorizationToken(signer, spec).value(),
                                {"t1", "dev-user", "ctx-1"}, kNow),
                ErrorCode::kInvalidAuthorizationToken, TokenFailure::kExpired);
}

}  // namespace
}  // namespace kmsd::jose::dev
