#include "broker/jose/key_set.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

// RFC 7515 A.3's P-256 public key and RFC 8037's Ed25519 public key.
boost::json::object EcJwk() {
  return {{"kty", "EC"},
          {"crv", "P-256"},
          {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
          {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
          {"kid", "ec"},
          {"alg", "ES256"}};
}
boost::json::object OkpJwk() {
  return {{"kty", "OKP"},
          {"crv", "Ed25519"},
          {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
          {"kid", "ed"},
          {"alg", "EdDSA"}};
}

std::string Jwks(std::initializer_list<boost::json::object> keys) {
  boost::json::array array;
  for (const auto& k : keys) array.push_back(k);
  return boost::json::serialize(boost::json::object{{"keys", array}});
}

void ExpectInvalid(const Result<KeySet>& result) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
}

TEST(KeySetTest, LoadsEcAndOkpKeysBoundToTheirAlgorithms) {
  auto keys = KeySet::FromJwks(Jwks({EcJwk(), OkpJwk()}));
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->size(), 2u);
  ASSERT_NE(keys->Find("ec"), nullptr);
  EXPECT_EQ(keys->Find("ec")->alg, Algorithm::kES256);
  EXPECT_EQ(keys->Find("ed")->alg, Algorithm::kEdDSA);
  EXPECT_EQ(keys->Find("EC"), nullptr);  // exact match only
  EXPECT_EQ(keys->Sole(), nullptr);
  EXPECT_TRUE(keys->OnlyUses(kSignerAlgorithms));
}

TEST(KeySetTest, RefusesKeysThatCarryPrivateMembers) {
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
    auto jwk = EcJwk();
    jwk[member] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
    ExpectInvalid(KeySet::FromJwks(Jwks({jwk})));
  }
}

TEST(KeySetTest, RequiresKidAndAlg) {
  for (const char* member : {"kid", "alg", "kty"}) {
    auto jwk = OkpJwk();
    jwk.erase(member);
    ExpectInvalid(KeySet::FromJwks(Jwks({jwk})));
  }
  auto jwk = OkpJwk();
  jwk["kid"] = "";
  ExpectInvalid(KeySet::FromJwks(Jwks({jwk})));
  jwk["kid"] = std::string(kMaxKidLength + 1, 'k');
  ExpectInvalid(KeySet::FromJwks(Jwks({jwk})));
}

TEST(KeySetTest, RefusesUnsupportedOrMismatchedAlgorithms) {
  for (const char* alg : {"HS256", "none", "ES384", "es256", "RS256", "EdDSA"}) {
    auto jwk = EcJwk();
    jwk["alg"] = alg;
    ExpectInvalid(KeySet::FromJwks(Jwks({jwk})));
  }
  auto okp = OkpJwk();
  okp["alg"] = "ES256";
  ExpectInvalid(KeySet::FromJwks(Jwks({okp})));
  // A symmetric key never belongs in a verifier set.
  ExpectInvalid(KeySet::FromJwks(Jwks({{{"kty", "oct"},
                                        {"k", "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ"},
                                        {"kid", "h"},
                                        {"alg", "HS256"}}})));
}

TEST(KeySetTest, AllowedAlgorithmsRestrictTheSet) {
  EXPECT_TRUE(KeySet::FromJwks(Jwks({EcJwk()}), kSignerAlgorithms));
  ExpectInvalid(KeySet::FromJwks(Jwks({EcJwk()}), AlgorithmSet{Algorithm::kEdDSA}));
}

TEST(KeySetTest, RefusesBadKeyMaterial) {
  auto short_x = EcJwk();
  short_x["x"] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA";  // 31 bytes
  ExpectInvalid(KeySet::FromJwks(Jwks({short_x})));
  auto off_curve = EcJwk();
  off_curve["y"] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4";  // y changed
  ExpectInvalid(KeySet::FromJwks(Jwks({off_curve})));
  auto padded = OkpJwk();
  padded["x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
  ExpectInvalid(KeySet::FromJwks(Jwks({padded})));
  auto curve = EcJwk();
  curve["crv"] = "P-384";
  ExpectInvalid(KeySet::FromJwks(Jwks({curve})));
  auto use = OkpJwk();
  use["use"] = "enc";
  ExpectInvalid(KeySet::FromJwks(Jwks({use})));
  use["use"] = "sig";
  EXPECT_TRUE(KeySet::FromJwks(Jwks({use})));
}

TEST(KeySetTest, RefusesDuplicateKidsAndMalformedDocuments) {
  auto twin = OkpJwk();
  twin["kid"] = "ec";
  ExpectInvalid(KeySet::FromJwks(Jwks({EcJwk(), twin})));
  for (const char* bad : {"", "[]", "{}", R"({"keys": {}})", R"({"keys": [1]})",
                          R"({"keys": [], "keys": []})", R"({"keys": []})"}) {
    ExpectInvalid(KeySet::FromJwks(bad));
  }
  ExpectInvalid(KeySet::FromJwks(std::string(kMaxJwksBytes + 1, ' ')));
}

TEST(KeySetTest, LoadsPemPublicKeyForItsAlgorithmOnly) {
  const std::string ed_pem =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VwAyEAfU0Of2FTpptiQrUiq77mhf2kQg+INLEIw72uNp71Sfo=\n"
      "-----END PUBLIC KEY-----\n";
  auto keys = KeySet::FromPublicKeyPem("ed", ed_pem, Algorithm::kEdDSA);
  ASSERT_TRUE(keys);
  EXPECT_NE(keys->Sole(), nullptr);
  EXPECT_EQ(*keys->SoleKid(), "ed");
  ExpectInvalid(KeySet::FromPublicKeyPem("ed", ed_pem, Algorithm::kES256));
  ExpectInvalid(KeySet::FromPublicKeyPem("ed", "not a pem", Algorithm::kEdDSA));
  ExpectInvalid(KeySet::FromPublicKeyPem("", ed_pem, Algorithm::kEdDSA));
}

}  // namespace
}  // namespace kmsd::jose
