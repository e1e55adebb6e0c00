#include "broker/jose/authorization_verifier.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

using namespace std::chrono_literals;
using testing::ExpectRefused;
using testing::UnixSeconds;

const Instant kNow = FromUnixMicros(1'800'000'000'000'000);
constexpr ErrorCode kCode = ErrorCode::kInvalidAuthorizationToken;

class AuthorizationVerifierTest : public ::testing::Test {
 protected:
  AuthorizationVerifierTest()
      : acme_signer_(testing::NewSigner("acme-storage-1", Algorithm::kES256)),
        globex_signer_(testing::NewSigner("globex-storage-1", Algorithm::kEdDSA)),
        replay_cache_(std::make_shared<InMemoryJtiReplayCache>()),
        verifier_({"broker-1"}, replay_cache_) {
    EXPECT_TRUE(verifier_.SetTenantSigners(
        "acme", {"storage.acme.example", testing::KeysOf({&acme_signer_})}));
    EXPECT_TRUE(verifier_.SetTenantSigners(
        "globex", {"storage.globex.example", testing::KeysOf({&globex_signer_})}));
  }

  static boost::json::object Claims() {
    return {{"iss", "storage.acme.example"},
            {"aud", "broker-1"},
            {"ctx", "0190c4b2-7d1e-7c3a-9f00-1b2c3d4e5f60"},
            {"tenant", "acme"},
            {"jti", "7f1c2a"},
            {"iat", UnixSeconds(kNow)},
            {"exp", UnixSeconds(kNow) + 300}};
  }
  static AuthorizationRequest Request() {
    return {"acme", "alice", "0190c4b2-7d1e-7c3a-9f00-1b2c3d4e5f60"};
  }
  std::string Mint(const boost::json::object& claims) const {
    return acme_signer_.Sign(claims).value();
  }

  JwsSigner acme_signer_;
  JwsSigner globex_signer_;
  std::shared_ptr<InMemoryJtiReplayCache> replay_cache_;
  AuthorizationTokenVerifier verifier_;
};

TEST_F(AuthorizationVerifierTest, ValidTokenYieldsItsClaims) {
  auto claims = verifier_.Verify(Mint(Claims()), Request(), kNow);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->issuer, "storage.acme.example");
  EXPECT_EQ(claims->context_id, "0190c4b2-7d1e-7c3a-9f00-1b2c3d4e5f60");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_EQ(claims->jti, "7f1c2a");
  EXPECT_FALSE(claims->subject.has_value());
  EXPECT_EQ(claims->issued_at, kNow);
  EXPECT_EQ(claims->expires_at, kNow + 300s);
  EXPECT_EQ(claims->kid, "acme-storage-1");
  EXPECT_EQ(claims->alg, Algorithm::kES256);
}

TEST_F(AuthorizationVerifierTest, SubjectWhenPresentMustBeTheCaller) {
  auto claims = Claims();
  claims["sub"] = "alice";
  auto ok = verifier_.Verify(Mint(claims), Request(), kNow);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->subject, "alice");
  claims["sub"] = "bob";
  claims["jti"] = "other";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kSubjectMismatch);
}

TEST_F(AuthorizationVerifierTest, WrongAudIssCtxTenantAreRefused) {
  const std::pair<const char*, TokenFailure> cases[] = {
      {"aud", TokenFailure::kAudienceMismatch},
      {"iss", TokenFailure::kIssuerMismatch},
      {"ctx", TokenFailure::kContextMismatch},
      {"tenant", TokenFailure::kTenantMismatch},
  };
  for (const auto& [name, reason] : cases) {
    auto claims = Claims();
    claims[name] = "globex";
    ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode, reason);
  }
  // aud may be an array, but must hold this broker's id.
  auto claims = Claims();
  claims["aud"] = {"broker-2", "broker-3"};
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kAudienceMismatch);
  claims["aud"] = {"broker-2", "broker-1"};
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
}

TEST_F(AuthorizationVerifierTest, RequiredClaimsMissingAreRefused) {
  for (const char* name : {"iss", "aud", "ctx", "tenant", "jti", "iat", "exp"}) {
    auto claims = Claims();
    claims.erase(name);
    ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                  TokenFailure::kMissingClaim);
  }
}

TEST_F(AuthorizationVerifierTest, JtiMustBeANonEmptyBoundedString) {
  for (const boost::json::value& jti :
       {boost::json::value(""), boost::json::value(std::string(129, 'j')), boost::json::value(5)}) {
    auto claims = Claims();
    claims["jti"] = jti;
    ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                  TokenFailure::kInvalidClaim);
  }
  auto claims = Claims();
  claims["jti"] = std::string(128, 'j');
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
}

TEST_F(AuthorizationVerifierTest, ExpiryAndNotBeforeHonourTheLeeway) {
  auto claims = Claims();
  claims["iat"] = UnixSeconds(kNow) - 400;
  claims["exp"] = UnixSeconds(kNow) - 30;  // expired 30 s ago, leeway 60 s
  claims["jti"] = "within";
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
  claims["exp"] = UnixSeconds(kNow) - 60;
  claims["jti"] = "beyond";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode, TokenFailure::kExpired);

  claims = Claims();
  claims["nbf"] = UnixSeconds(kNow) + 30;
  claims["jti"] = "nbf-within";
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
  claims["nbf"] = UnixSeconds(kNow) + 61;
  claims["jti"] = "nbf-beyond";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode, TokenFailure::kNotYetValid);
}

TEST_F(AuthorizationVerifierTest, IssuedInTheFutureBeyondLeewayIsRefused) {
  auto claims = Claims();
  claims["iat"] = UnixSeconds(kNow) + 30;
  claims["exp"] = UnixSeconds(kNow) + 300;
  claims["jti"] = "a";
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
  claims["iat"] = UnixSeconds(kNow) + 61;
  claims["jti"] = "b";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kIssuedInFuture);
}

TEST_F(AuthorizationVerifierTest, LifetimeLongerThanTheMaximumIsRefused) {
  auto claims = Claims();
  claims["exp"] = UnixSeconds(kNow) + 600;  // exactly the default 10 minutes
  EXPECT_TRUE(verifier_.Verify(Mint(claims), Request(), kNow));
  claims["exp"] = UnixSeconds(kNow) + 601;
  claims["jti"] = "longer";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kLifetimeTooLong);
  claims["exp"] = UnixSeconds(kNow);  // exp == iat: no lifetime at all
  claims["jti"] = "empty";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kInvalidClaim);

  AuthorizationTokenVerifier short_lived({"broker-1", 60s, 60s}, replay_cache_);
  ASSERT_TRUE(short_lived.SetTenantSigners(
      "acme", {"storage.acme.example", testing::KeysOf({&acme_signer_})}));
  claims = Claims();
  claims["exp"] = UnixSeconds(kNow) + 61;
  ExpectRefused(short_lived.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kLifetimeTooLong);
}

TEST_F(AuthorizationVerifierTest, ReplayedJtiIsRefused) {
  const std::string token = Mint(Claims());
  ASSERT_TRUE(verifier_.Verify(token, Request(), kNow));
  ExpectRefused(verifier_.Verify(token, Request(), kNow + 1s), kCode, TokenFailure::kReplayed);
  // A different token that reuses the jti is a replay too.
  auto claims = Claims();
  claims["sub"] = "alice";
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow + 2s), kCode,
                TokenFailure::kReplayed);
  // Still refused at the very end of its lifetime (exp + leeway) ...
  ExpectRefused(verifier_.Verify(token, Request(), kNow + 359s), kCode, TokenFailure::kReplayed);
  // ... and after it, for being expired.
  ExpectRefused(verifier_.Verify(token, Request(), kNow + 360s), kCode, TokenFailure::kExpired);
}

TEST_F(AuthorizationVerifierTest, ForgedTokenDoesNotBurnTheGenuineJti) {
  const std::string genuine = Mint(Claims());
  // Same claims, signed by a key that is not registered under this kid.
  const JwsSigner forger = testing::NewSigner("acme-storage-1", Algorithm::kES256);
  const std::string forged = forger.Sign(Claims()).value();
  ExpectRefused(verifier_.Verify(forged, Request(), kNow), kCode, TokenFailure::kBadSignature);
  // A genuine signature on claims that fail (other ctx) does not burn it either.
  auto other_ctx = Claims();
  other_ctx["ctx"] = "another-context";
  ExpectRefused(verifier_.Verify(Mint(other_ctx), Request(), kNow), kCode,
                TokenFailure::kContextMismatch);
  EXPECT_EQ(replay_cache_->size(), 0u);
  EXPECT_TRUE(verifier_.Verify(genuine, Request(), kNow));
  EXPECT_EQ(replay_cache_->size(), 1u);
}

TEST_F(AuthorizationVerifierTest, TenantACannotUseItsTokensForTenantB) {
  // Caller of globex with acme's genuine token naming globex: acme's kid is
  // not among globex's signers.
  auto claims = Claims();
  claims["tenant"] = "globex";
  ExpectRefused(verifier_.Verify(Mint(claims), {"globex", "alice", Request().context_id}, kNow),
                kCode, TokenFailure::kUnknownKid);
  // Caller of acme with acme's genuine token that names globex.
  ExpectRefused(verifier_.Verify(Mint(claims), Request(), kNow), kCode,
                TokenFailure::kTenantMismatch);
  // Caller of globex presenting an untouched acme token.
  ExpectRefused(verifier_.Verify(Mint(Claims()), {"globex", "alice", Request().context_id}, kNow),
                kCode, TokenFailure::kUnknownKid);
  // Globex's own signer works for globex.
  auto globex = Claims();
  globex["iss"] = "storage.globex.example";
  globex["tenant"] = "globex";
  EXPECT_TRUE(verifier_.Verify(globex_signer_.Sign(globex).value(),
                               {"globex", "alice", Request().context_id}, kNow));
}

TEST_F(AuthorizationVerifierTest, TenantWithoutSignersIsRefused) {
  ExpectRefused(verifier_.Verify(Mint(Claims()), {"initech", "alice", "c"}, kNow), kCode,
                TokenFailure::kUnknownTenant);
  verifier_.RemoveTenant("acme");
  ExpectRefused(verifier_.Verify(Mint(Claims()), Request(), kNow), kCode,
                TokenFailure::kUnknownTenant);
}

TEST_F(AuthorizationVerifierTest, DefaultSignersServeTenantsWithoutTheirOwnOnly) {
  JwsSigner dev_signer = testing::NewSigner("dev-storage-signer", Algorithm::kES256);
  ASSERT_TRUE(verifier_.SetDefaultSigners({"kmsd-dev-storage", testing::KeysOf({&dev_signer})}));
  auto claims = Claims();
  claims["iss"] = "kmsd-dev-storage";
  claims["tenant"] = "initech";
  const AuthorizationRequest initech{"initech", "alice", Request().context_id};
  EXPECT_TRUE(verifier_.Verify(dev_signer.Sign(claims).value(), initech, kNow));
  // A tenant with signers of its own does not accept the default ones.
  claims["tenant"] = "acme";
  claims["jti"] = "other-jti";
  ExpectRefused(verifier_.Verify(dev_signer.Sign(claims).value(), Request(), kNow), kCode,
                TokenFailure::kUnknownKid);
  // The default set obeys the same key rules as a tenant's.
  EXPECT_FALSE(verifier_.SetDefaultSigners({"", testing::KeysOf({&dev_signer})}));
}

TEST_F(AuthorizationVerifierTest, SameJtiInTwoTenantsIsIndependent) {
  auto globex = Claims();
  globex["iss"] = "storage.globex.example";
  globex["tenant"] = "globex";
  EXPECT_TRUE(verifier_.Verify(Mint(Claims()), Request(), kNow));
  EXPECT_TRUE(verifier_.Verify(globex_signer_.Sign(globex).value(),
                               {"globex", "alice", Request().context_id}, kNow));
}

TEST_F(AuthorizationVerifierTest, SignerSetsOnlyHoldEs256OrEdDsaKeys) {
  PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  KeySet rsa_keys;
  ASSERT_TRUE(rsa_keys.Add("rsa", std::move(rsa), Algorithm::kRS256));
  const auto refused = verifier_.SetTenantSigners(
      "acme", {"storage.acme.example", std::make_shared<const KeySet>(std::move(rsa_keys))});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(verifier_.SetTenantSigners("acme", {"", testing::KeysOf({&acme_signer_})}));
  EXPECT_FALSE(verifier_.SetTenantSigners("acme", {"x", std::make_shared<const KeySet>()}));
  // The refused calls left the registered signers in force.
  EXPECT_TRUE(verifier_.Verify(Mint(Claims()), Request(), kNow));
}

TEST(InMemoryJtiReplayCacheTest, RecordsOncePurgesExpiredAndFailsClosedWhenFull) {
  InMemoryJtiReplayCache cache(2);
  EXPECT_EQ(cache.RecordIfNew("t", "a", kNow + 10s, kNow).value(), true);
  EXPECT_EQ(cache.RecordIfNew("t", "a", kNow + 10s, kNow).value(), false);
  EXPECT_EQ(cache.RecordIfNew("u", "a", kNow + 10s, kNow).value(), true);
  // Full of live entries: refuse rather than evict a live one.
  const auto full = cache.RecordIfNew("t", "b", kNow + 10s, kNow);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(cache.RecordIfNew("t", "a", kNow + 10s, kNow + 5s).value(), false);
  // Once expired, entries are purged and room returns.
  EXPECT_EQ(cache.RecordIfNew("t", "b", kNow + 20s, kNow + 10s).value(), true);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace kmsd::jose
