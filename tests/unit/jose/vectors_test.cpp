// Published vectors: RFC 7515 A.3 (ES256), RFC 8037 A.4 (Ed25519), and the
// Wycheproof ECDSA P-256 (IEEE P1363 signatures) and Ed25519 verify suites.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "broker/jose/algorithm.h"
#include "broker/jose/jws.h"
#include "broker/jose/key_set.h"
#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

using testing::Hex;
using testing::ReadJsonFile;

const std::string kVectors = KMSD_VECTORS_DIR;

// The RFC vector with its JWK turned into a public verifier JWKS: private
// `d` dropped (a verifier file refuses it), kid and alg added.
struct RfcVector {
  std::string jws;
  std::string jwks;
};

RfcVector FindRfcVector(std::string_view alg) {
  const auto doc = ReadJsonFile(kVectors + "/jose_rfc_vectors.json");
  for (const auto& v : doc.at("vectors").as_array()) {
    if (v.at("alg").as_string() != alg) continue;
    boost::json::object jwk = v.at("jwk").as_object();
    jwk.erase("d");
    jwk["kid"] = "rfc";
    jwk["alg"] = alg;
    return {std::string(v.at("jws").as_string()),
            boost::json::serialize(boost::json::object{{"keys", boost::json::array{jwk}}})};
  }
  ADD_FAILURE() << "no vector for " << alg;
  return {};
}

TEST(RfcVectorsTest, Rfc7515A3Es256Verifies) {
  const auto v = FindRfcVector("ES256");
  auto keys = KeySet::FromJwks(v.jwks);
  ASSERT_TRUE(keys);
  auto verified = VerifyJws(v.jws, *keys, {kAllAlgorithms, true, ErrorCode::kUnauthenticated});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->alg, Algorithm::kES256);
  EXPECT_EQ(verified->kid, "rfc");
  EXPECT_EQ(verified->payload,
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
}

TEST(RfcVectorsTest, Rfc8037Ed25519Verifies) {
  const auto v = FindRfcVector("EdDSA");
  auto keys = KeySet::FromJwks(v.jwks);
  ASSERT_TRUE(keys);
  auto verified = VerifyJws(v.jws, *keys, {kAllAlgorithms, true, ErrorCode::kUnauthenticated});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->alg, Algorithm::kEdDSA);
  EXPECT_EQ(verified->payload, "Example of Ed25519 signing");
}

TEST(RfcVectorsTest, RfcExamplesWithOneFlippedSignatureBitAreRefused) {
  for (std::string_view alg : {"ES256", "EdDSA"}) {
    auto v = FindRfcVector(alg);
    auto keys = KeySet::FromJwks(v.jwks);
    ASSERT_TRUE(keys);
    const std::size_t last_dot = v.jws.rfind('.');
    // Flip a bit in the middle of the signature (keeps the base64url canonical).
    char& c = v.jws[last_dot + 10];
    c = c == 'A' ? 'B' : 'A';
    testing::ExpectRefused(
        VerifyJws(v.jws, *keys, {kAllAlgorithms, true, ErrorCode::kUnauthenticated}),
        ErrorCode::kUnauthenticated, TokenFailure::kBadSignature);
  }
}

TEST(RfcVectorsTest, Rfc7515A1Hs256IsRefusedEvenWithMatchingKeyMaterial) {
  // The HS256 example: whatever key the set holds, HMAC never verifies.
  const auto es = FindRfcVector("ES256");
  auto keys = KeySet::FromJwks(es.jwks);
  ASSERT_TRUE(keys);
  const auto doc = ReadJsonFile(kVectors + "/jose_rfc_vectors.json");
  const std::string hs(doc.at("vectors").as_array()[0].at("jws").as_string());
  testing::ExpectRefused(VerifyJws(hs, *keys, {kAllAlgorithms, true, ErrorCode::kUnauthenticated}),
                         ErrorCode::kUnauthenticated, TokenFailure::kAlgHmac);
}

// Drives VerifySignature over every case of a Wycheproof file; the files hold
// only "valid" and "invalid" results (no "acceptable"), checked here so that
// a future file with "acceptable" cases fails loudly until it is decided.
struct WycheproofCounts {
  int valid = 0;
  int invalid = 0;
};

WycheproofCounts RunWycheproof(const std::string& file, Algorithm alg) {
  WycheproofCounts counts;
  const auto doc = ReadJsonFile(kVectors + "/" + file);
  for (const auto& group : doc.at("testGroups").as_array()) {
    const auto der = Hex(group.at("publicKeyDer").as_string());
    const unsigned char* p = der.data();
    PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    EXPECT_TRUE(key) << file;
    if (!key) continue;
    for (const auto& test : group.at("tests").as_array()) {
      const auto id = test.at("tcId").as_int64();
      const std::string_view result = test.at("result").as_string();
      const auto msg = Hex(test.at("msg").as_string());
      const auto sig = Hex(test.at("sig").as_string());
      const bool accepted = VerifySignature(key.get(), alg, msg, sig);
      if (result == "valid") {
        EXPECT_TRUE(accepted) << file << " tcId " << id;
        ++counts.valid;
      } else if (result == "invalid") {
        EXPECT_FALSE(accepted) << file << " tcId " << id << " " << test.at("comment").as_string();
        ++counts.invalid;
      } else {
        ADD_FAILURE() << file << " tcId " << id << ": undecided result " << result;
      }
    }
  }
  return counts;
}

TEST(WycheproofTest, EcdsaP256P1363VerifiesExactlyAsResultSays) {
  const auto counts = RunWycheproof("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::kES256);
  // Guard against a silently empty run.
  EXPECT_EQ(counts.valid, 173);
  EXPECT_EQ(counts.invalid, 89);
}

TEST(WycheproofTest, Ed25519VerifiesExactlyAsResultSays) {
  const auto counts = RunWycheproof("ed25519_test.json", Algorithm::kEdDSA);
  EXPECT_EQ(counts.valid, 88);
  EXPECT_EQ(counts.invalid, 63);
}

TEST(WycheproofTest, PublicKeyJwksOfEveryGroupLoad) {
  for (const auto& [file, alg] : {std::pair{"ecdsa_secp256r1_sha256_p1363_test.json", "ES256"},
                                  std::pair{"ed25519_test.json", "EdDSA"}}) {
    const auto doc = ReadJsonFile(kVectors + "/" + file);
    int loaded = 0;
    for (const auto& group : doc.at("testGroups").as_array()) {
      // Groups whose key has no JWK form (e.g. an off-curve encoding) omit it.
      const auto* given = group.as_object().if_contains("publicKeyJwk");
      if (given == nullptr) continue;
      boost::json::object jwk = given->as_object();
      jwk["alg"] = alg;
      const auto jwks =
          boost::json::serialize(boost::json::object{{"keys", boost::json::array{jwk}}});
      auto keys = KeySet::FromJwks(jwks);
      ASSERT_TRUE(keys) << file << ": " << keys.error().message;
      EXPECT_EQ(keys->size(), 1u);
      ++loaded;
    }
    EXPECT_GT(loaded, 0) << file;
  }
}

}  // namespace
}  // namespace kmsd::jose
