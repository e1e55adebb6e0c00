#include "broker/jose/signer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>

#include "broker/jose/identity_verifier.h"
#include "jose_test_util.h"

namespace kmsd::jose {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kmsd-jose-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST(SignerTest, SignedTokensVerifyUnderThePublicJwk) {
  for (Algorithm alg : {Algorithm::kES256, Algorithm::kEdDSA}) {
    const JwsSigner signer = testing::NewSigner("dev", alg);
    const auto keys = testing::KeysOf({&signer});
    const std::string token = signer.Sign({{"hello", "world"}}).value();
    auto verified = VerifyJws(token, *keys, {});
    ASSERT_TRUE(verified) << AlgorithmName(alg);
    EXPECT_EQ(verified->alg, alg);
    EXPECT_EQ(verified->payload, R"({"hello":"world"})");
    EXPECT_EQ(verified->header.at("typ").as_string(), "JWT");
    const auto jwk = signer.PublicJwk().value();
    EXPECT_FALSE(jwk.contains("d"));
    EXPECT_EQ(jwk.at("use").as_string(), "sig");
  }
}

TEST(SignerTest, Es256SignaturesAreRaw64Bytes) {
  const JwsSigner signer = testing::NewSigner("dev", Algorithm::kES256);
  for (int i = 0; i < 20; ++i) {
    const auto sig = signer.SignBytes("data").value();
    EXPECT_EQ(sig.size(), 64u);
  }
}

TEST(SignerTest, RefusesKeysThatDoNotFitOrAlgorithmsItCannotSign) {
  auto ed_pem = GeneratePrivateKeyPem(Algorithm::kEdDSA).value();
  EXPECT_FALSE(JwsSigner::FromPrivateKeyPem("k", ed_pem, Algorithm::kES256));
  EXPECT_FALSE(JwsSigner::FromPrivateKeyPem("k", ed_pem, Algorithm::kRS256));
  EXPECT_FALSE(
      JwsSigner::FromPrivateKeyPem("k", Secret::CopyOf(std::string_view("x")), Algorithm::kEdDSA));
  EXPECT_FALSE(GeneratePrivateKeyPem(Algorithm::kPS256));
}

TEST(DevKeysTest, EnsureDevKeyPairCreatesA0600KeyOnceAndAMatchingJwks) {
  TempDir dir;
  const fs::path key = dir.path() / "idp.key";
  const fs::path jwks = dir.path() / "idp.jwks";
  ASSERT_TRUE(EnsureDevKeyPair(key, jwks, "dev-idp-1", Algorithm::kES256));
  EXPECT_EQ(ModeOf(key), 0600u);
  const std::string first_jwks = testing::ReadTextFile(jwks.string());

  // A second call keeps the key: the JWKS is the same.
  ASSERT_TRUE(EnsureDevKeyPair(key, jwks, "dev-idp-1", Algorithm::kES256));
  EXPECT_EQ(testing::ReadTextFile(jwks.string()), first_jwks);

  // Tokens minted from the key file verify against the JWKS file.
  const auto signer = JwsSigner::FromPrivateKeyFile("dev-idp-1", key, Algorithm::kES256);
  ASSERT_TRUE(signer);
  auto keys = KeySet::FromJwks(first_jwks);
  ASSERT_TRUE(keys);
  IdentityVerifier verifier({"dev-idp", "kmsd"}, std::make_shared<const KeySet>(std::move(*keys)));
  const Instant now = FromUnixMicros(1'800'000'000'000'000);
  auto identity = verifier.Verify(signer
                                      ->Sign({{"iss", "dev-idp"},
                                              {"aud", "kmsd"},
                                              {"sub", "dev"},
                                              {"tenant", "t1"},
                                              {"exp", testing::UnixSeconds(now) + 60}})
                                      .value(),
                                  now);
  EXPECT_TRUE(identity);
}

TEST(DevKeysTest, PrivateKeyFilesAreNeverOverwrittenNorReadWhenExposed) {
  TempDir dir;
  const fs::path key = dir.path() / "signer.key";
  const auto pem = GeneratePrivateKeyPem(Algorithm::kEdDSA).value();
  ASSERT_TRUE(WritePrivateKeyFile(key, pem));
  const auto again = WritePrivateKeyFile(key, pem);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);

  auto read = ReadPrivateKeyFile(key);
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->Equals(pem.expose()));

  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  const auto exposed = ReadPrivateKeyFile(key);
  ASSERT_FALSE(exposed);
  EXPECT_EQ(exposed.error().code, ErrorCode::kPermissionDenied);

  const auto missing = ReadPrivateKeyFile(dir.path() / "absent.key");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kmsd::jose
