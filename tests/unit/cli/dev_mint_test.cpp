#include "cli/kmsctl/dev_mint.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <sstream>

#include "broker/jose/authorization_verifier.h"
#include "broker/jose/identity_verifier.h"
#include "broker/jose/jti_replay_cache.h"
#include "broker/jose/key_set.h"
#include "broker/jose/signer.h"
#include "cli/kmsctl/app.h"
#include "cli/kmsctl/exit_codes.h"
#include "tests/support/temp_dir.h"

namespace kmsd::kmsctl {
namespace {

using namespace std::chrono_literals;
using jose::Algorithm;

// A data dir with the two dev key files, laid out as docs/dev-mode.md says.
class DevMintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [file, kid] :
         {std::pair{kDevIdpKeyFile, kDevIdpKid}, std::pair{kDevStorageKeyFile, kDevStorageKid}}) {
      const auto path = dir_.path() / file;
      ASSERT_TRUE(
          jose::WritePrivateKeyFile(path, jose::GeneratePrivateKeyPem(Algorithm::kES256).value()));
      auto signer = jose::JwsSigner::FromPrivateKeyFile(std::string(kid), path, Algorithm::kES256);
      ASSERT_TRUE(signer);
      boost::json::array keys{signer->PublicJwk().value()};
      auto set =
          jose::KeySet::FromJwks(boost::json::serialize(boost::json::object{{"keys", keys}}));
      ASSERT_TRUE(set);
      (file == kDevIdpKeyFile ? idp_keys_ : storage_keys_) =
          std::make_shared<const jose::KeySet>(std::move(*set));
    }
  }

  jose::IdentityVerifier IdentityVerifier() {
    return jose::IdentityVerifier({std::string(kDevIdpIssuer), std::string(kDevAudience)},
                                  idp_keys_);
  }
  std::unique_ptr<jose::AuthorizationTokenVerifier> AuthzVerifier() {
    auto verifier = std::make_unique<jose::AuthorizationTokenVerifier>(
        jose::AuthorizationVerifierConfig{std::string(kDevAudience)},
        std::make_shared<jose::InMemoryJtiReplayCache>());
    EXPECT_TRUE(
        verifier->SetTenantSigners("acme", {std::string(kDevStorageIssuer), storage_keys_}));
    return verifier;
  }

  kmsd::testing::TempDir dir_{"kmsctl-dev"};
  std::shared_ptr<const jose::KeySet> idp_keys_;
  std::shared_ptr<const jose::KeySet> storage_keys_;
  const Instant now_ = SystemClock().Now();
};

TEST(ParseTtlTest, UnitsAndSigns) {
  EXPECT_EQ(ParseTtl("90s").value(), 90s);
  EXPECT_EQ(ParseTtl("5m").value(), 300s);
  EXPECT_EQ(ParseTtl("1h").value(), 3600s);
  EXPECT_EQ(ParseTtl("-1m").value(), -60s);
  EXPECT_EQ(ParseTtl("0s").value(), 0s);
  for (const char* bad : {"", "5", "m", "-m", "5d", "1.5h", "+5m", "5 m", "--1m", "99999999999h"}) {
    auto ttl = ParseTtl(bad);
    ASSERT_FALSE(ttl) << bad;
    EXPECT_EQ(ttl.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ParseRolesTest, KnownRolesOnceEach) {
  EXPECT_EQ(ParseRoles("encrypt,decrypt,admin").value(),
            (std::vector<std::string>{"encrypt", "decrypt", "admin"}));
  EXPECT_EQ(ParseRoles("admin").value(), std::vector<std::string>{"admin"});
  for (const char* bad : {"", "root", "encrypt,", ",admin", "admin,admin", "encrypt decrypt"}) {
    EXPECT_FALSE(ParseRoles(bad)) << bad;
  }
}

TEST_F(DevMintTest, DevTokenVerifiesWithTheDevIdentityJwks) {
  auto token = MintDevToken({dir_.path(), "acme", "alice", {"encrypt", "admin"}, 1h, now_});
  ASSERT_TRUE(token) << token.error().message;
  auto identity = IdentityVerifier().Verify(*token, now_);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->tenant, "acme");
  EXPECT_EQ(identity->principal, "alice");
  EXPECT_TRUE(identity->roles.Has(jose::Role::kEncrypt));
  EXPECT_TRUE(identity->roles.Has(jose::Role::kAdmin));
  EXPECT_FALSE(identity->roles.Has(jose::Role::kDecrypt));
  EXPECT_EQ(std::chrono::floor<std::chrono::seconds>(identity->expires_at),
            std::chrono::floor<std::chrono::seconds>(now_) + 1h);
}

TEST_F(DevMintTest, ExpiredDevTokenIsRefused) {
  auto token = MintDevToken({dir_.path(), "acme", "alice", {"admin"}, -10min, now_});
  ASSERT_TRUE(token);
  auto identity = IdentityVerifier().Verify(*token, now_);
  ASSERT_FALSE(identity);
  EXPECT_EQ(identity.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(DevMintTest, DevAuthzVerifiesForItsContextOnly) {
  auto verifier = AuthzVerifier();
  auto token = MintDevAuthz({dir_.path(), "acme", "ctx-1", std::string("bob"), 5min, now_});
  ASSERT_TRUE(token);
  auto claims = verifier->Verify(*token, {"acme", "bob", "ctx-1"}, now_);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->context_id, "ctx-1");
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->kid, kDevStorageKid);
  EXPECT_EQ(claims->jti.size(), 22u);  // 128 random bits, base64url

  auto other = MintDevAuthz({dir_.path(), "acme", "ctx-1", std::nullopt, 5min, now_});
  ASSERT_TRUE(other);
  auto wrong_ctx = verifier->Verify(*other, {"acme", "bob", "ctx-2"}, now_);
  ASSERT_FALSE(wrong_ctx);
  EXPECT_EQ(wrong_ctx.error().code, ErrorCode::kInvalidAuthorizationToken);
}

TEST_F(DevMintTest, NegativeTtlAuthzReadsAsExpired) {
  auto token = MintDevAuthz({dir_.path(), "acme", "ctx-1", std::nullopt, -1min, now_});
  ASSERT_TRUE(token);
  auto claims = AuthzVerifier()->Verify(*token, {"acme", "bob", "ctx-1"}, now_);
  ASSERT_FALSE(claims);
  EXPECT_EQ(claims.error().code, ErrorCode::kInvalidAuthorizationToken);
}

// The verifiers' 60 s leeway must not turn a small negative TTL into a valid
// token: docs/kmsctl.md promises an expired one for every TTL <= 0.
TEST_F(DevMintTest, TtlWithinTheLeewayIsExpiredToo) {
  for (auto ttl : {-1s, 0s, -59s}) {
    auto authz = MintDevAuthz({dir_.path(), "acme", "ctx-1", std::nullopt, ttl, now_});
    ASSERT_TRUE(authz);
    auto claims = AuthzVerifier()->Verify(*authz, {"acme", "bob", "ctx-1"}, now_);
    ASSERT_FALSE(claims) << ttl.count();
    EXPECT_NE(claims.error().message.find("expired"), std::string::npos) << claims.error().message;

    auto bearer = MintDevToken({dir_.path(), "acme", "alice", {"admin"}, ttl, now_});
    ASSERT_TRUE(bearer);
    auto identity = IdentityVerifier().Verify(*bearer, now_);
    ASSERT_FALSE(identity) << ttl.count();
    EXPECT_EQ(identity.error().code, ErrorCode::kUnauthenticated);
  }
}

TEST_F(DevMintTest, MissingKeyFileIsNotFound) {
  kmsd::testing::TempDir empty{"kmsctl-empty"};
  auto token = MintDevToken({empty.path(), "acme", "alice", {"admin"}, 1h, now_});
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, ErrorCode::kNotFound);
}

TEST_F(DevMintTest, CommandLinePrintsAVerifiableToken) {
  std::ostringstream out, err;
  const int code = RunKmsctl({"kmsctl", "dev", "token", "--data-dir", dir_.path().string(),
                              "--tenant=acme", "--subject", "alice", "--roles=decrypt"},
                             out, err);
  ASSERT_EQ(code, kExitOk) << err.str();
  std::string token = out.str();
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token.back(), '\n');
  token.pop_back();
  auto identity = IdentityVerifier().Verify(token, SystemClock().Now());
  ASSERT_TRUE(identity);
  EXPECT_TRUE(identity->roles.Has(jose::Role::kDecrypt));
  // No --ttl: a dev token lives 1 h.
  const auto lifetime = identity->expires_at - SystemClock().Now();
  EXPECT_GT(lifetime, 3590s);
  EXPECT_LE(lifetime, 3600s);
}

TEST_F(DevMintTest, CommandLineAuthzDefaultsToFiveMinutes) {
  std::ostringstream out, err;
  ASSERT_EQ(RunKmsctl({"kmsctl", "dev", "authz", "--data-dir", dir_.path().string(), "--tenant",
                       "acme", "--context-id", "ctx-1"},
                      out, err),
            kExitOk)
      << err.str();
  std::string token = out.str();
  token.pop_back();
  auto claims = AuthzVerifier()->Verify(token, {"acme", "bob", "ctx-1"}, SystemClock().Now());
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->expires_at - claims->issued_at, 300s);
}

TEST_F(DevMintTest, CommandLineRejectsBadRolesAndTtlAsUsage) {
  std::ostringstream out, err;
  EXPECT_EQ(RunKmsctl({"kmsctl", "dev", "token", "--data-dir", dir_.path().string(), "--tenant",
                       "acme", "--subject", "a", "--roles", "root"},
                      out, err),
            kExitUsage);
  EXPECT_EQ(RunKmsctl({"kmsctl", "dev", "authz", "--data-dir", dir_.path().string(), "--tenant",
                       "acme", "--context-id", "c", "--ttl", "5 minutes"},
                      out, err),
            kExitUsage);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace kmsd::kmsctl
