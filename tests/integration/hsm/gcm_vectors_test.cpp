// The token's AES-GCM, driven through hsm/'s own GcmEncrypt/GcmDecrypt (the
// code path the key service uses), agrees with the Wycheproof vectors in
// ../shared/vectors/aes_gcm_test.json: every group with a 96-bit IV and a
// 128-bit tag, each vector key imported into the token as a session object.
#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "tests/integration/hsm/key_service_fixture.h"

namespace kmsd::hsm {
namespace {

std::vector<std::uint8_t> Unhex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

boost::json::value LoadVectors() {
  std::ifstream in(std::string(KMSD_VECTORS_DIR) + "/aes_gcm_test.json");
  std::stringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str());
}

TEST_F(KeyServiceTest, AesGcmAgreesWithWycheproofVectors) {
  const boost::json::value doc = LoadVectors();
  const std::size_t objects_before = ObjectCount();
  int valid = 0, invalid = 0;
  for (const auto& group_value : doc.at("testGroups").as_array()) {
    const auto& group = group_value.as_object();
    if (group.at("ivSize").as_int64() != 96 || group.at("tagSize").as_int64() != 128) continue;
    for (const auto& test_value : group.at("tests").as_array()) {
      const auto& test = test_value.as_object();
      const auto id = test.at("tcId").as_int64();
      const auto key = Unhex(test.at("key").as_string());
      const auto iv = Unhex(test.at("iv").as_string());
      const auto aad = Unhex(test.at("aad").as_string());
      const auto msg = Unhex(test.at("msg").as_string());
      auto sealed = Unhex(test.at("ct").as_string());
      const auto tag = Unhex(test.at("tag").as_string());
      sealed.insert(sealed.end(), tag.begin(), tag.end());
      const bool expect_valid = test.at("result").as_string() == "valid";

      WithLease([&](Lease& lease) {
        auto handle = ImportAesSessionKey(lease, key);
        ASSERT_TRUE(handle) << "tcId " << id << ": " << handle.error().message;
        auto opened = GcmDecrypt(lease, *handle, iv, aad, sealed);
        if (expect_valid) {
          ASSERT_TRUE(opened) << "tcId " << id << ": " << opened.error().message;
          EXPECT_TRUE(opened->Equals(msg)) << "tcId " << id;
          auto ct = GcmEncrypt(lease, *handle, iv, aad, msg);
          ASSERT_TRUE(ct) << "tcId " << id << ": " << ct.error().message;
          EXPECT_EQ(*ct, sealed) << "tcId " << id;
          ++valid;
        } else {
          ASSERT_FALSE(opened) << "tcId " << id;
          EXPECT_EQ(opened.error().code, ErrorCode::kIntegrity) << "tcId " << id;
          ++invalid;
        }
        EXPECT_TRUE(DestroyObject(lease, *handle)) << "tcId " << id;
      });
    }
  }
  EXPECT_EQ(valid, 116);
  EXPECT_EQ(invalid, 81);
  EXPECT_EQ(ObjectCount(), objects_before);  // the session keys are gone
}

}  // namespace
}  // namespace kmsd::hsm
