// Mutual TLS as the second way to authenticate: a verified client
// certificate whose fingerprint is configured maps to tenant, principal and
// roles; a verified but unmapped certificate is 401; a bearer token, when
// sent, is what counts.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/api_stack.h"
#include "tests/integration/http/test_client.h"
#include "tests/integration/http/test_pki.h"

namespace kmsd::e2e {
namespace {

using http::testing::TestClient;

class ApiMtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = http::testing::GetTestPki();
    ASSERT_NE(pki_, nullptr);
    KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
    http::TlsConfig tls;
    tls.certificate_chain_file = pki_->server_one_cert;
    tls.private_key_file = pki_->server_one_key;
    tls.require_client_certificate = true;
    // Both CAs verify, so that "verified but not mapped" can be shown too.
    bundle_ = dir_.File("clients.pem");
    {
      std::ofstream out(bundle_);
      std::ifstream one(pki_->ca_one), two(pki_->ca_two);
      out << one.rdbuf() << two.rdbuf();
    }
    tls.client_ca_file = bundle_;
    StackExtras extras;
    extras.tls = tls;
    extras.client_certs[http::testing::CertificateSha256(pki_->client_one_cert)] = {
        .tenant = "acme", .principal = "media-server-1", .roles = policy::kRoleEncrypt};
    std::string error;
    stack_ = ApiStack::Create(*token_, {}, &error, std::move(extras));
    ASSERT_TRUE(stack_) << error;
  }

  std::optional<TestClient> Connect(const std::string& cert, const std::string& key) {
    return TestClient::Tls(stack_->port(),
                           {.ca_file = pki_->ca_one, .cert_file = cert, .key_file = key});
  }

  static constexpr const char* kBody = R"({"asset_type":"recording","asset_id":"tls-1"})";
  static constexpr const char* kJson = "Content-Type: application/json\r\n";

  const http::testing::TestPki* pki_ = nullptr;
  testing::TempDir dir_;
  std::string bundle_;
  std::unique_ptr<testing::SoftHsmToken> token_;
  std::unique_ptr<ApiStack> stack_;
};

TEST_F(ApiMtlsTest, MappedCertificateAuthenticatesWithItsRoles) {
  auto client = Connect(pki_->client_one_cert, pki_->client_one_key);
  ASSERT_TRUE(client);
  auto created = client->Post("/v1/datakeys", kBody, kJson);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201u) << created->body;
  // The mapped roles hold: encrypt only, so the admin route is forbidden.
  auto keys = client->Get("/v1/keys");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->status, 403u) << keys->body;
}

TEST_F(ApiMtlsTest, VerifiedButUnmappedCertificateIsUnauthenticated) {
  auto client = Connect(pki_->client_other_cert, pki_->client_other_key);
  ASSERT_TRUE(client);
  auto reply = client->Post("/v1/datakeys", kBody, kJson);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 401u) << reply->body;
}

TEST_F(ApiMtlsTest, ABearerTokenSentWithTheCertificateIsWhatCounts) {
  auto client = Connect(pki_->client_one_cert, pki_->client_one_key);
  ASSERT_TRUE(client);
  const auto forged = stack_->ForgedBearer("acme", "x", {"encrypt"});
  auto reply = client->Post("/v1/datakeys", kBody,
                            std::string(kJson) + "Authorization: Bearer " + forged + "\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 401u) << reply->body;
}

}  // namespace
}  // namespace kmsd::e2e
