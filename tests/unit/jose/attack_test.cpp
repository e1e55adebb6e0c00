// Hostile tokens against both verifiers: each must be refused, for the
// reason named. Tokens are built with real keys; where a signature is needed
// to reach a check, it is a genuine signature by the registered key.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <functional>

#include "broker/jose/authorization_verifier.h"
#include "broker/jose/identity_verifier.h"
#include "common/base64.h"
#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

using namespace std::chrono_literals;
using testing::ExpectRefused;
using testing::UnixSeconds;

const Instant kNow = FromUnixMicros(1'800'000'000'000'000);

// Both surfaces, each with the same ES256 key "k1" registered.
class AttackTest : public ::testing::Test {
 protected:
  AttackTest()
      : signer_(testing::NewSigner("k1", Algorithm::kES256)),
        identity_({"https://idp.example", "kmsd", 60s}, testing::KeysOf({&signer_})),
        authz_({"broker-1"}, std::make_shared<InMemoryJtiReplayCache>()) {
    EXPECT_TRUE(authz_.SetTenantSigners("acme", {"storage.example", testing::KeysOf({&signer_})}));
  }

  boost::json::object IdentityClaims() const {
    return {{"iss", "https://idp.example"},
            {"aud", "kmsd"},
            {"sub", "alice"},
            {"tenant", "acme"},
            {"roles", {"decrypt"}},
            {"exp", UnixSeconds(kNow) + 300}};
  }
  boost::json::object AuthzClaims() {
    return {{"iss", "storage.example"},
            {"aud", "broker-1"},
            {"ctx", "ctx-1"},
            {"tenant", "acme"},
            {"jti", "jti-" + std::to_string(++jti_)},
            {"iat", UnixSeconds(kNow)},
            {"exp", UnixSeconds(kNow) + 300}};
  }
  Result<Identity> Identify(std::string_view token) { return identity_.Verify(token, kNow); }
  Result<AuthorizationClaims> Authorize(std::string_view token) {
    return authz_.Verify(token, {"acme", "alice", "ctx-1"}, kNow);
  }

  // The same hostile header against both surfaces, with the claims each expects.
  void ExpectBothRefuse(const std::function<std::string(const boost::json::object&)>& make,
                        TokenFailure reason) {
    SCOPED_TRACE(std::string(TokenFailureName(reason)));
    ExpectRefused(Identify(make(IdentityClaims())), ErrorCode::kUnauthenticated, reason);
    ExpectRefused(Authorize(make(AuthzClaims())), ErrorCode::kInvalidAuthorizationToken, reason);
  }

  std::string Signed(std::string_view header, const boost::json::object& claims) {
    return signer_.SignCompact(header, boost::json::serialize(claims)).value();
  }

  JwsSigner signer_;
  IdentityVerifier identity_;
  AuthorizationTokenVerifier authz_;
  int jti_ = 0;
};

std::string Unsigned(std::string_view header, const boost::json::object& claims,
                     std::string_view signature_b64 = "") {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(boost::json::serialize(claims)) + "." +
         std::string(signature_b64);
}

std::string Hs256(std::string_view header, const boost::json::object& claims,
                  std::span<const std::uint8_t> secret) {
  const std::string input =
      Base64UrlEncode(header) + "." + Base64UrlEncode(boost::json::serialize(claims));
  std::array<std::uint8_t, 32> mac{};
  std::size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                      mac.data(), mac.size(), &len),
            nullptr);
  return input + "." + Base64UrlEncode(mac);
}

TEST_F(AttackTest, GenuineTokensPassBothSurfaces) {
  // The baseline every attack below departs from.
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  EXPECT_TRUE(Identify(Signed(header, IdentityClaims())));
  EXPECT_TRUE(Authorize(Signed(header, AuthzClaims())));
}

TEST_F(AttackTest, AlgNoneInAnyCaseIsRefused) {
  for (std::string_view alg : {"none", "NONE", "None", "nOnE"}) {
    const std::string header = R"({"alg":")" + std::string(alg) + R"(","kid":"k1"})";
    ExpectBothRefuse([&](const auto& c) { return Unsigned(header, c); }, TokenFailure::kAlgNone);
    // A none token that still carries a (genuine ES256) signature: refused too.
    ExpectBothRefuse([&](const auto& c) { return Signed(header, c); }, TokenFailure::kAlgNone);
  }
}

TEST_F(AttackTest, Hs256WithThePublicKeyAsHmacSecretIsRefused) {
  auto pub = signer_.PublicJwk().value();
  const std::string jwk_text = boost::json::serialize(pub);
  auto keys = KeySet::FromJwks(
      boost::json::serialize(boost::json::object{{"keys", boost::json::array{pub}}}));
  ASSERT_TRUE(keys);
  EVP_PKEY* key = keys->Find("k1")->key.get();
  // PEM form.
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* pem_data = nullptr;
  const long pem_len = BIO_get_mem_data(bio.get(), &pem_data);
  const std::vector<std::uint8_t> pem(pem_data, pem_data + pem_len);
  // DER form.
  const int der_len = i2d_PUBKEY(key, nullptr);
  std::vector<std::uint8_t> der_bytes(static_cast<std::size_t>(der_len));
  unsigned char* out = der_bytes.data();
  ASSERT_EQ(i2d_PUBKEY(key, &out), der_len);
  const std::vector<std::uint8_t> der = der_bytes;
  const std::vector<std::uint8_t> jwk(jwk_text.begin(), jwk_text.end());

  for (const std::vector<std::uint8_t>* secret : {&pem, &der, &jwk}) {
    for (std::string_view alg : {"HS256", "HS384", "HS512", "hs256"}) {
      const std::string header = R"({"alg":")" + std::string(alg) + R"(","kid":"k1"})";
      ExpectBothRefuse([&](const auto& c) { return Hs256(header, c, *secret); },
                       TokenFailure::kAlgHmac);
    }
  }
}

TEST_F(AttackTest, StrippedSignatureIsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse([&](const auto& c) { return Unsigned(header, c); }, TokenFailure::kBadSignature);
}

TEST_F(AttackTest, TwoOrFourSegmentsAreRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse(
      [&](const auto& c) {
        const std::string t = Signed(header, c);
        return t.substr(0, t.rfind('.'));  // header.payload
      },
      TokenFailure::kMalformed);
  ExpectBothRefuse([&](const auto& c) { return Signed(header, c) + ".AAAA"; },
                   TokenFailure::kMalformed);
  ExpectBothRefuse([&](const auto& c) { return Signed(header, c) + "."; },
                   TokenFailure::kMalformed);
  ExpectBothRefuse([&](const auto&) { return std::string("..."); }, TokenFailure::kMalformed);
  ExpectBothRefuse([&](const auto&) { return std::string(); }, TokenFailure::kMalformed);
}

TEST_F(AttackTest, PaddedBase64IsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  // Pad each segment in turn; the signature stays genuine for the others.
  for (int segment = 0; segment < 3; ++segment) {
    ExpectBothRefuse(
        [&](const auto& c) {
          std::string t = Signed(header, c);
          const std::size_t dot1 = t.find('.');
          const std::size_t dot2 = t.find('.', dot1 + 1);
          const std::size_t end[] = {dot1, dot2, t.size()};
          t.insert(end[segment], "=");
          return t;
        },
        TokenFailure::kMalformed);
  }
}

TEST_F(AttackTest, StandardAlphabetBase64IsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse(
      [&](const auto& c) {
        // Mint until the signature holds a '-' or '_' (nearly always at once),
        // then re-spell it in the standard alphabet.
        for (int i = 0; i < 100; ++i) {
          std::string t = Signed(header, c);
          const std::size_t sig = t.rfind('.') + 1;
          if (t.find_first_of("-_", sig) == std::string::npos) continue;
          for (std::size_t j = sig; j < t.size(); ++j) {
            if (t[j] == '-') t[j] = '+';
            if (t[j] == '_') t[j] = '/';
          }
          return t;
        }
        ADD_FAILURE() << "no signature with - or _";
        return std::string();
      },
      TokenFailure::kMalformed);
}

TEST_F(AttackTest, DerEncodedEcdsaSignatureIsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse(
      [&](const auto& c) {
        const std::string input =
            Base64UrlEncode(header) + "." + Base64UrlEncode(boost::json::serialize(c));
        const auto raw = signer_.SignBytes(input).value();
        const auto der = EcdsaRawToDer(raw).value();  // a genuine signature, DER-encoded
        EXPECT_TRUE(EcdsaDerToRaw(der).has_value());
        return input + "." + Base64UrlEncode(der);
      },
      TokenFailure::kBadSignature);
}

TEST_F(AttackTest, UnknownKidIsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k2"})";
  ExpectBothRefuse([&](const auto& c) { return Signed(header, c); }, TokenFailure::kUnknownKid);
}

TEST_F(AttackTest, KidThatLooksLikeAPathUrlOrSqlIsJustUnknown) {
  for (std::string_view kid :
       {"../../../../etc/passwd", "/dev/null", "file:///etc/ssl/private/key.pem",
        "https://attacker.example/jwks.json", "k1' OR '1'='1", "k1\"; DROP TABLE records; --",
        "k1/../k1", "k1\n"}) {
    boost::json::object h{{"alg", "ES256"}, {"kid", kid}};
    const std::string header = boost::json::serialize(h);
    ExpectBothRefuse([&](const auto& c) { return Signed(header, c); }, TokenFailure::kUnknownKid);
  }
}

TEST_F(AttackTest, MissingKidIsRefusedForAuthorizationTokens) {
  const std::string header = R"({"alg":"ES256"})";
  ExpectRefused(Authorize(Signed(header, AuthzClaims())), ErrorCode::kInvalidAuthorizationToken,
                TokenFailure::kMissingKid);
  // The identity provider's single key may be used without kid.
  EXPECT_TRUE(Identify(Signed(header, IdentityClaims())));
}

TEST_F(AttackTest, AlgOtherThanTheKeysIsRefused) {
  for (std::string_view header : {R"({"alg":"EdDSA","kid":"k1"})", R"({"alg":"PS256","kid":"k1"})",
                                  R"({"alg":"RS256","kid":"k1"})"}) {
    ExpectRefused(Identify(Signed(header, IdentityClaims())), ErrorCode::kUnauthenticated,
                  TokenFailure::kAlgMismatch);
  }
  // RSA algorithms are not allowed at all for authorization tokens.
  ExpectRefused(Authorize(Signed(R"({"alg":"RS256","kid":"k1"})", AuthzClaims())),
                ErrorCode::kInvalidAuthorizationToken, TokenFailure::kAlgUnsupported);
  ExpectBothRefuse([&](const auto& c) { return Signed(R"({"alg":"ES512","kid":"k1"})", c); },
                   TokenFailure::kAlgUnsupported);
  ExpectBothRefuse([&](const auto& c) { return Signed(R"({"alg":"es256","kid":"k1"})", c); },
                   TokenFailure::kAlgUnsupported);
  ExpectBothRefuse([&](const auto& c) { return Signed(R"({"kid":"k1"})", c); },
                   TokenFailure::kMalformed);
}

TEST_F(AttackTest, CritIsRefused) {
  ExpectBothRefuse(
      [&](const auto& c) {
        return Signed(R"({"alg":"ES256","kid":"k1","crit":["exp"],"exp":1})", c);
      },
      TokenFailure::kCritUnsupported);
  ExpectBothRefuse(
      [&](const auto& c) { return Signed(R"({"alg":"ES256","kid":"k1","crit":[]})", c); },
      TokenFailure::kCritUnsupported);
  ExpectBothRefuse(
      [&](const auto& c) { return Signed(R"({"alg":"ES256","kid":"k1","b64":false})", c); },
      TokenFailure::kMalformed);
}

TEST_F(AttackTest, TypIsOptionalButMustBeAString) {
  EXPECT_TRUE(Identify(Signed(R"({"alg":"ES256","kid":"k1","typ":"JWT"})", IdentityClaims())));
  ExpectBothRefuse(
      [&](const auto& c) { return Signed(R"({"alg":"ES256","kid":"k1","typ":1})", c); },
      TokenFailure::kMalformed);
}

TEST_F(AttackTest, DuplicateKeysInHeaderAreRefused) {
  ExpectBothRefuse(
      [&](const auto& c) { return Signed(R"({"alg":"ES256","kid":"k1","kid":"k2"})", c); },
      TokenFailure::kMalformed);
  ExpectBothRefuse(
      [&](const auto& c) { return Signed(R"({"alg":"none","alg":"ES256","kid":"k1"})", c); },
      TokenFailure::kMalformed);
}

TEST_F(AttackTest, DuplicateKeysInClaimsAreRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  // Each payload's last duplicate holds the value that would be accepted.
  const std::string identity = boost::json::serialize(IdentityClaims());
  const std::string idp =
      signer_.SignCompact(header, identity.substr(0, identity.size() - 1) + R"(,"tenant":"acme"})")
          .value();
  ExpectRefused(Identify(idp), ErrorCode::kUnauthenticated, TokenFailure::kMalformed);
  const std::string authz = boost::json::serialize(AuthzClaims());
  const std::string az =
      signer_.SignCompact(header, R"({"ctx":"other",)" + authz.substr(1)).value();
  ExpectRefused(Authorize(az), ErrorCode::kInvalidAuthorizationToken, TokenFailure::kMalformed);
}

TEST_F(AttackTest, ClaimsThatAreNotAnObjectAreRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  for (std::string_view payload : {"[]", "\"x\"", "", "{"}) {
    const std::string t = signer_.SignCompact(header, payload).value();
    ExpectRefused(Identify(t), ErrorCode::kUnauthenticated, TokenFailure::kMalformed);
    ExpectRefused(Authorize(t), ErrorCode::kInvalidAuthorizationToken, TokenFailure::kMalformed);
  }
}

TEST_F(AttackTest, OversizedTokenIsRefusedBeforeParsing) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse(
      [&](const auto& c) {
        auto big = c;
        big["pad"] = std::string(kMaxTokenBytes, 'x');
        return Signed(header, big);
      },
      TokenFailure::kTooLarge);
  ExpectBothRefuse([&](const auto&) { return std::string(kMaxTokenBytes + 1, 'A'); },
                   TokenFailure::kTooLarge);
}

TEST_F(AttackTest, SignatureFromAnotherKeyWithTheSameKidIsRefused) {
  const JwsSigner impostor = testing::NewSigner("k1", Algorithm::kES256);
  ExpectBothRefuse(
      [&](const auto& c) {
        return impostor.SignCompact(R"({"alg":"ES256","kid":"k1"})", boost::json::serialize(c))
            .value();
      },
      TokenFailure::kBadSignature);
}

TEST_F(AttackTest, TamperedPayloadIsRefused) {
  const std::string header = R"({"alg":"ES256","kid":"k1"})";
  ExpectBothRefuse(
      [&](const auto& c) {
        const std::string genuine = Signed(header, c);
        auto changed = c;
        changed["tenant"] = "acme";  // same value, different serialization order
        changed["sub"] = "mallory";
        const std::string forged_payload = Base64UrlEncode(boost::json::serialize(changed));
        const std::size_t dot1 = genuine.find('.');
        const std::size_t dot2 = genuine.rfind('.');
        return genuine.substr(0, dot1 + 1) + forged_payload + genuine.substr(dot2);
      },
      TokenFailure::kBadSignature);
}

}  // namespace
}  // namespace kmsd::jose
