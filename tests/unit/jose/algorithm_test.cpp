#include "broker/jose/algorithm.h"

#include <gtest/gtest.h>

#include <vector>

#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

using testing::Hex;

// The P-256 group order n, big-endian.
const std::vector<std::uint8_t> kOrder =
    Hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

std::vector<std::uint8_t> Concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(AlgorithmTest, NamesAreExactAndCaseSensitive) {
  EXPECT_EQ(ParseAlgorithm("ES256"), Algorithm::kES256);
  EXPECT_EQ(ParseAlgorithm("EdDSA"), Algorithm::kEdDSA);
  EXPECT_EQ(ParseAlgorithm("RS256"), Algorithm::kRS256);
  EXPECT_EQ(ParseAlgorithm("PS256"), Algorithm::kPS256);
  for (const char* other : {"none", "HS256", "es256", "EDDSA", "ES256K", "Ed25519", "", "RS512"}) {
    EXPECT_FALSE(ParseAlgorithm(other).has_value()) << other;
  }
}

TEST(AlgorithmTest, RawSignatureScalarsMustBeInRange) {
  const std::vector<std::uint8_t> one(32, 0);
  auto one_scalar = one;
  one_scalar[31] = 1;
  auto n_minus_1 = kOrder;
  n_minus_1[31] -= 1;
  const std::vector<std::uint8_t> zero(32, 0);
  const std::vector<std::uint8_t> max(32, 0xff);

  EXPECT_TRUE(EcdsaRawToDer(Concat(one_scalar, one_scalar)));
  EXPECT_TRUE(EcdsaRawToDer(Concat(n_minus_1, n_minus_1)));
  for (const auto& bad :
       {Concat(zero, one_scalar), Concat(one_scalar, zero), Concat(kOrder, one_scalar),
        Concat(one_scalar, kOrder), Concat(max, one_scalar), Concat(one_scalar, max)}) {
    EXPECT_FALSE(EcdsaRawToDer(bad));
  }
  EXPECT_FALSE(EcdsaRawToDer(std::vector<std::uint8_t>(63, 1)));
  EXPECT_FALSE(EcdsaRawToDer(std::vector<std::uint8_t>(65, 1)));
}

TEST(AlgorithmTest, DerAndRawFormsRoundTrip) {
  auto r = kOrder;
  r[0] = 0x01;  // high bit clear: DER needs no sign octet; s keeps it set and does
  auto s = kOrder;
  s[31] -= 2;
  const auto raw = Concat(r, s);
  const auto der = EcdsaRawToDer(raw);
  ASSERT_TRUE(der);
  EXPECT_EQ(der->at(0), 0x30);  // SEQUENCE
  EXPECT_EQ(EcdsaDerToRaw(*der), raw);
  auto trailing = *der;
  trailing.push_back(0);
  EXPECT_FALSE(EcdsaDerToRaw(trailing));
}

TEST(AlgorithmTest, KeysFitOnlyTheirAlgorithm) {
  const JwsSigner ec = testing::NewSigner("ec", Algorithm::kES256);
  const auto ec_keys = testing::KeysOf({&ec});
  const EVP_PKEY* key = ec_keys->Find("ec")->key.get();
  EXPECT_TRUE(KeyFitsAlgorithm(key, Algorithm::kES256));
  EXPECT_FALSE(KeyFitsAlgorithm(key, Algorithm::kEdDSA));
  EXPECT_FALSE(KeyFitsAlgorithm(key, Algorithm::kRS256));
  EXPECT_FALSE(KeyFitsAlgorithm(nullptr, Algorithm::kES256));
  PkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  EXPECT_FALSE(KeyFitsAlgorithm(p384.get(), Algorithm::kES256));
  // A valid signature under the wrong algorithm is refused.
  const auto sig = ec.SignBytes("data").value();
  const std::string_view data = "data";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(data.data()),
                                            data.size());
  EXPECT_TRUE(VerifySignature(key, Algorithm::kES256, bytes, sig));
  EXPECT_FALSE(VerifySignature(key, Algorithm::kEdDSA, bytes, sig));
}

}  // namespace
}  // namespace kmsd::jose
