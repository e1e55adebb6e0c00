#include "broker/jose/identity_verifier.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>
#include <thread>

#include "common/base64.h"
#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

using namespace std::chrono_literals;
using testing::ExpectRefused;
using testing::UnixSeconds;

const Instant kNow = FromUnixMicros(1'800'000'000'000'000);
constexpr ErrorCode kCode = ErrorCode::kUnauthenticated;

IdentityVerifierConfig Config() {
  IdentityVerifierConfig config;
  config.issuer = "https://idp.example";
  config.audience = "kmsd";
  return config;
}

class IdentityVerifierTest : public ::testing::Test {
 protected:
  IdentityVerifierTest()
      : signer_(testing::NewSigner("idp-1", Algorithm::kEdDSA)),
        verifier_(Config(), testing::KeysOf({&signer_})) {}

  boost::json::object Claims() const {
    return {{"iss", "https://idp.example"},
            {"aud", "kmsd"},
            {"sub", "alice"},
            {"tenant", "acme"},
            {"roles", {"encrypt", "decrypt"}},
            {"iat", UnixSeconds(kNow)},
            {"exp", UnixSeconds(kNow) + 300}};
  }
  std::string Mint(const boost::json::object& claims) const { return signer_.Sign(claims).value(); }

  JwsSigner signer_;
  IdentityVerifier verifier_;
};

TEST_F(IdentityVerifierTest, ValidTokenYieldsTheIdentity) {
  auto identity = verifier_.Verify(Mint(Claims()), kNow);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->tenant, "acme");
  EXPECT_EQ(identity->principal, "alice");
  EXPECT_TRUE(identity->roles.Has(Role::kEncrypt));
  EXPECT_TRUE(identity->roles.Has(Role::kDecrypt));
  EXPECT_FALSE(identity->roles.Has(Role::kAdmin));
  EXPECT_EQ(identity->expires_at, kNow + 300s);
}

TEST_F(IdentityVerifierTest, RolesAreMappedAndUnknownValuesIgnored) {
  auto claims = Claims();
  claims["roles"] = {"admin", "superuser", "ENCRYPT"};
  auto identity = verifier_.Verify(Mint(claims), kNow);
  ASSERT_TRUE(identity);
  EXPECT_TRUE(identity->roles.Has(Role::kAdmin));
  EXPECT_FALSE(identity->roles.Has(Role::kEncrypt));
  EXPECT_FALSE(identity->roles.Has(Role::kDecrypt));

  claims["roles"] = "decrypt admin";  // space-separated string form
  identity = verifier_.Verify(Mint(claims), kNow);
  ASSERT_TRUE(identity);
  EXPECT_TRUE(identity->roles.Has(Role::kDecrypt));
  EXPECT_TRUE(identity->roles.Has(Role::kAdmin));

  claims.erase("roles");
  identity = verifier_.Verify(Mint(claims), kNow);
  ASSERT_TRUE(identity);
  EXPECT_TRUE(identity->roles.empty());

  claims["roles"] = {"admin", 7};
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kInvalidClaim);
}

TEST_F(IdentityVerifierTest, ConfigurableTenantAndRolesClaimsAndMapping) {
  auto config = Config();
  config.tenant_claim = "org";
  config.roles_claim = "groups";
  config.role_mapping = {{"kms-admins", Role::kAdmin}, {"media", Role::kEncrypt}};
  IdentityVerifier verifier(config, testing::KeysOf({&signer_}));
  auto claims = Claims();
  claims["org"] = "globex";
  claims["groups"] = {"media", "kms-admins", "encrypt"};
  auto identity = verifier.Verify(Mint(claims), kNow);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->tenant, "globex");  // not the "tenant" claim
  EXPECT_TRUE(identity->roles.Has(Role::kAdmin));
  EXPECT_TRUE(identity->roles.Has(Role::kEncrypt));
  EXPECT_FALSE(identity->roles.Has(Role::kDecrypt));  // "encrypt" is not mapped here
  claims.erase("org");
  ExpectRefused(verifier.Verify(Mint(claims), kNow), kCode, TokenFailure::kMissingClaim);
}

TEST_F(IdentityVerifierTest, ExpiredBeyondLeewayIsRefusedWithinLeewayAccepted) {
  auto claims = Claims();
  claims["exp"] = UnixSeconds(kNow) - 30;  // leeway is 60 s
  EXPECT_TRUE(verifier_.Verify(Mint(claims), kNow));
  claims["exp"] = UnixSeconds(kNow) - 60;
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kExpired);
  claims["exp"] = UnixSeconds(kNow) - 3600;
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kExpired);
}

TEST_F(IdentityVerifierTest, NotYetValidBeyondLeewayIsRefusedWithinLeewayAccepted) {
  auto claims = Claims();
  claims["nbf"] = UnixSeconds(kNow) + 30;
  EXPECT_TRUE(verifier_.Verify(Mint(claims), kNow));
  claims["nbf"] = UnixSeconds(kNow) + 61;
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kNotYetValid);
  claims.erase("nbf");
  claims["iat"] = UnixSeconds(kNow) + 30;
  EXPECT_TRUE(verifier_.Verify(Mint(claims), kNow));
  claims["iat"] = UnixSeconds(kNow) + 61;
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kIssuedInFuture);
}

TEST_F(IdentityVerifierTest, LeewayIsConfigurable) {
  auto config = Config();
  config.leeway = 0s;
  IdentityVerifier strict(config, testing::KeysOf({&signer_}));
  auto claims = Claims();
  claims["exp"] = UnixSeconds(kNow);
  ExpectRefused(strict.Verify(Mint(claims), kNow), kCode, TokenFailure::kExpired);
  claims["exp"] = UnixSeconds(kNow) + 1;
  EXPECT_TRUE(strict.Verify(Mint(claims), kNow));
}

TEST_F(IdentityVerifierTest, FractionalNumericDatesAreHonoured) {
  auto claims = Claims();
  claims["exp"] = static_cast<double>(UnixSeconds(kNow)) - 59.5;
  EXPECT_TRUE(verifier_.Verify(Mint(claims), kNow));
  claims["exp"] = static_cast<double>(UnixSeconds(kNow)) - 60.5;
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kExpired);
}

TEST_F(IdentityVerifierTest, WrongIssuerOrAudienceIsRefused) {
  auto claims = Claims();
  claims["iss"] = "https://evil.example";
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kIssuerMismatch);
  claims = Claims();
  claims["aud"] = "other-service";
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kAudienceMismatch);
  claims["aud"] = {"other-service", "kmsd-staging"};
  ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kAudienceMismatch);
  claims["aud"] = {"other-service", "kmsd"};
  EXPECT_TRUE(verifier_.Verify(Mint(claims), kNow));
}

TEST_F(IdentityVerifierTest, PrincipalsMayBeAnyTextButControlCharacters) {
  for (const char* sub : {"alice smith", "caf\u00e9", "\u00a0nbsp", "\u00c2"}) {
    auto claims = Claims();
    claims["sub"] = sub;
    auto identity = verifier_.Verify(Mint(claims), kNow);
    ASSERT_TRUE(identity) << sub;
    EXPECT_EQ(identity->principal, sub);
  }
}

TEST_F(IdentityVerifierTest, RequiredClaimsMissingOrMistypedAreRefused) {
  for (const char* name : {"exp", "sub", "tenant", "iss", "aud"}) {
    auto claims = Claims();
    claims.erase(name);
    ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kMissingClaim);
  }
  const std::pair<const char*, boost::json::value> mistyped[] = {
      {"exp", "soon"},
      {"exp", -1},
      {"exp", 1e300},
      {"nbf", true},
      {"sub", 42},
      {"sub", ""},
      {"iat", "now"},
      {"tenant", "../other"},
      {"tenant", ""},
      {"tenant", "a b"},
      {"iss", 1},
      // Control characters of every range: C0, DEL and C1 (U+0085, U+009F).
      {"sub", "a\tb"},
      {"sub", "a\x7f"},
      {"sub", "a\u0085b"},
      {"sub", "a\u009f"}};
  for (const auto& [name, value] : mistyped) {
    auto claims = Claims();
    claims[name] = value;
    ExpectRefused(verifier_.Verify(Mint(claims), kNow), kCode, TokenFailure::kInvalidClaim);
  }
}

TEST_F(IdentityVerifierTest, CacheHoldsAVerifiedTokenOnce) {
  const std::string token = Mint(Claims());
  ASSERT_TRUE(verifier_.Verify(token, kNow));
  ASSERT_TRUE(verifier_.Verify(token, kNow + 1s));
  EXPECT_EQ(verifier_.cached_tokens(), 1u);
  // A client that reuses its token pays for one verification only.
  EXPECT_EQ(verifier_.full_verifications(), 1u);
  auto other = Claims();
  other["sub"] = "bob";
  ASSERT_TRUE(verifier_.Verify(Mint(other), kNow));  // another token is verified in full
  EXPECT_EQ(verifier_.full_verifications(), 2u);
  auto identity = verifier_.Verify(token, kNow + 2s);
  ASSERT_TRUE(identity);
  EXPECT_EQ(identity->principal, "alice");
}

TEST_F(IdentityVerifierTest, CacheNeverOutlivesExp) {
  auto config = Config();
  config.leeway = 0s;
  IdentityVerifier verifier(config, testing::KeysOf({&signer_}));
  const std::string token = Mint(Claims());  // exp = kNow + 300 s
  ASSERT_TRUE(verifier.Verify(token, kNow));
  ASSERT_EQ(verifier.cached_tokens(), 1u);
  EXPECT_TRUE(verifier.Verify(token, kNow + 299s));
  ExpectRefused(verifier.Verify(token, kNow + 300s), kCode, TokenFailure::kExpired);
  EXPECT_EQ(verifier.cached_tokens(), 0u);
  // A cached entry is not used before the time it was valid from either.
  auto claims = Claims();
  claims["nbf"] = UnixSeconds(kNow);
  const std::string later = Mint(claims);
  ASSERT_TRUE(verifier.Verify(later, kNow));
  ExpectRefused(verifier.Verify(later, kNow - 1s), kCode, TokenFailure::kNotYetValid);
}

TEST_F(IdentityVerifierTest, TokenAcceptedOnlyWithinLeewayIsNotCached) {
  auto claims = Claims();
  claims["exp"] = UnixSeconds(kNow) - 10;
  const std::string token = Mint(claims);
  ASSERT_TRUE(verifier_.Verify(token, kNow));
  EXPECT_EQ(verifier_.cached_tokens(), 0u);
  ExpectRefused(verifier_.Verify(token, kNow + 51s), kCode, TokenFailure::kExpired);
}

TEST_F(IdentityVerifierTest, CacheIsBoundedAndDisabledByZero) {
  auto config = Config();
  config.cache_capacity = 2;
  IdentityVerifier bounded(config, testing::KeysOf({&signer_}));
  for (int i = 0; i < 5; ++i) {
    auto claims = Claims();
    claims["sub"] = "user-" + std::to_string(i);
    ASSERT_TRUE(bounded.Verify(Mint(claims), kNow));
    EXPECT_LE(bounded.cached_tokens(), 2u);
  }
  EXPECT_EQ(bounded.cached_tokens(), 2u);
  config.cache_capacity = 0;
  IdentityVerifier uncached(config, testing::KeysOf({&signer_}));
  ASSERT_TRUE(uncached.Verify(Mint(Claims()), kNow));
  EXPECT_EQ(uncached.cached_tokens(), 0u);
}

TEST_F(IdentityVerifierTest, ReplaceKeysRetiresOldKeysAndEmptiesTheCache) {
  const std::string old_token = Mint(Claims());
  ASSERT_TRUE(verifier_.Verify(old_token, kNow));
  const JwsSigner rotated = testing::NewSigner("idp-2", Algorithm::kES256);
  verifier_.ReplaceKeys(testing::KeysOf({&rotated}));
  EXPECT_EQ(verifier_.cached_tokens(), 0u);
  // Cached before, refused now: the old key is gone.
  ExpectRefused(verifier_.Verify(old_token, kNow), kCode, TokenFailure::kUnknownKid);
  EXPECT_TRUE(verifier_.Verify(rotated.Sign(Claims()).value(), kNow));
}

TEST_F(IdentityVerifierTest, ConcurrentVerifyAndReplaceKeys) {
  const std::string token = Mint(Claims());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (verifier_.Verify(token, kNow)) ++accepted;
      }
    });
  }
  for (int i = 0; i < 50; ++i) verifier_.ReplaceKeys(testing::KeysOf({&signer_}));
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 800);
}

// Identity providers often sign with RSA: RS256 and PS256, >= 2048 bits.
class RsaIdentityTest : public ::testing::Test {
 protected:
  static PkeyPtr NewRsa(unsigned bits) {
    return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  }
  static std::string SignRsa(EVP_PKEY* key, bool pss, const std::string& header,
                             const boost::json::object& claims) {
    const std::string input =
        Base64UrlEncode(header) + "." + Base64UrlEncode(boost::json::serialize(claims));
    MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key), 1);
    if (pss) {
      EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
      EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    std::size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()), 1);
    std::vector<std::uint8_t> sig(len);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, in, input.size()), 1);
    sig.resize(len);
    return input + "." + Base64UrlEncode(sig);
  }
  static boost::json::object Claims() {
    return {{"iss", "https://idp.example"},
            {"aud", "kmsd"},
            {"sub", "bob"},
            {"tenant", "acme"},
            {"exp", UnixSeconds(kNow) + 60}};
  }
};

TEST_F(RsaIdentityTest, Rs256AndPs256VerifyEachOnlyUnderItsOwnBinding) {
  PkeyPtr key = NewRsa(2048);
  ASSERT_TRUE(key);
  auto shared = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
  KeySet keys;
  EVP_PKEY_up_ref(shared.get());
  ASSERT_TRUE(keys.Add("rs", PkeyPtr(shared.get()), Algorithm::kRS256));
  EVP_PKEY_up_ref(shared.get());
  ASSERT_TRUE(keys.Add("ps", PkeyPtr(shared.get()), Algorithm::kPS256));
  IdentityVerifier verifier(Config(), std::make_shared<const KeySet>(std::move(keys)));

  EXPECT_TRUE(verifier.Verify(
      SignRsa(shared.get(), false, R"({"alg":"RS256","kid":"rs"})", Claims()), kNow));
  EXPECT_TRUE(verifier.Verify(
      SignRsa(shared.get(), true, R"({"alg":"PS256","kid":"ps"})", Claims()), kNow));
  // Same key material, other binding: refused before any signature check.
  ExpectRefused(
      verifier.Verify(SignRsa(shared.get(), true, R"({"alg":"PS256","kid":"rs"})", Claims()), kNow),
      kCode, TokenFailure::kAlgMismatch);
  // A PKCS#1 v1.5 signature presented under a PS256 key's kid and alg.
  ExpectRefused(verifier.Verify(
                    SignRsa(shared.get(), false, R"({"alg":"PS256","kid":"ps"})", Claims()), kNow),
                kCode, TokenFailure::kBadSignature);
}

TEST_F(RsaIdentityTest, RsaKeysUnder2048BitsAreRefused) {
  PkeyPtr small = NewRsa(1024);
  ASSERT_TRUE(small);
  KeySet keys;
  const auto added = keys.Add("small", std::move(small), Algorithm::kRS256);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace kmsd::jose
