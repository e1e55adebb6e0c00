// kmsd_client over TLS against FakeDaemon with certificates made by the
// openssl command line for each test: chain and hostname verification, and
// mutual TLS.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/client/client.h"
#include "fake_daemon.h"
#include "run_process.h"
#include "tests/support/temp_dir.h"

namespace kmsd::client {
namespace {

using testing::FakeDaemon;
using testing::FakeReply;
using testing::FakeRequest;
using testing::FakeTls;
using testing::RunProcess;
using testing::TempDir;

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCa("ca");
    MakeCa("other-ca");
    MakeCert("server", "ca", "subjectAltName=IP:127.0.0.1");
    MakeCert("named", "ca", "subjectAltName=DNS:kms.example");
    MakeCert("client", "ca", "extendedKeyUsage=clientAuth");
  }

  std::string F(const std::string& name) const { return dir_.File(name); }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    const auto r = RunProcess(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", F(name + ".key"), "-out", F(name + ".pem"), "-subj", "/CN=" + name, "-days",
             "2"});
  }
  void MakeCert(const std::string& name, const std::string& ca, const std::string& ext) {
    std::ofstream(F(name + ".ext")) << ext << "\n";
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             F(name + ".key"), "-out", F(name + ".csr"), "-subj", "/CN=" + name});
    Openssl({"x509", "-req", "-in", F(name + ".csr"), "-CA", F(ca + ".pem"), "-CAkey",
             F(ca + ".key"), "-CAcreateserial", "-out", F(name + ".pem"), "-days", "2", "-extfile",
             F(name + ".ext")});
  }

  CallResult<boost::json::value> ListKeys(const FakeDaemon& daemon, const std::string& ca,
                                          const std::string& client = "") {
    ClientOptions options;
    options.url = daemon.url();
    options.tls.ca_file = F(ca + ".pem");
    if (!client.empty()) {
      options.tls.cert_file = F(client + ".pem");
      options.tls.key_file = F(client + ".key");
    }
    auto created = Client::Create(std::move(options));
    if (!created) return created.error();
    return (*created)->ListKeys();
  }

  static FakeReply Ok(const FakeRequest&) { return FakeReply{200, R"({"keys":[]})"}; }

  TempDir dir_{"kmsctl-tls"};
};

TEST_F(ClientTlsTest, TrustedChainAndMatchingIpSanSucceed) {
  FakeDaemon daemon(Ok, FakeTls{F("server.pem"), F("server.key"), ""});
  auto r = ListKeys(daemon, "ca");
  ASSERT_TRUE(r) << Describe(r.error());
  EXPECT_EQ(daemon.requests(), 1);
}

TEST_F(ClientTlsTest, UntrustedChainIsATlsErrorAndNothingIsSent) {
  FakeDaemon daemon(Ok, FakeTls{F("server.pem"), F("server.key"), ""});
  auto r = ListKeys(daemon, "other-ca");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kTls);
  EXPECT_EQ(daemon.requests(), 0);
}

TEST_F(ClientTlsTest, CertificateForAnotherNameIsATlsError) {
  FakeDaemon daemon(Ok, FakeTls{F("named.pem"), F("named.key"), ""});
  auto r = ListKeys(daemon, "ca");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kTls);
  EXPECT_EQ(daemon.requests(), 0);
}

TEST_F(ClientTlsTest, MutualTlsNeedsTheClientCertificate) {
  FakeDaemon daemon(Ok, FakeTls{F("server.pem"), F("server.key"), F("ca.pem")});
  auto without = ListKeys(daemon, "ca");
  ASSERT_FALSE(without);
  EXPECT_EQ(daemon.requests(), 0);
  auto with = ListKeys(daemon, "ca", "client");
  ASSERT_TRUE(with) << Describe(with.error());
  EXPECT_EQ(daemon.requests(), 1);
}

TEST_F(ClientTlsTest, ClientKeyThatDoesNotMatchItsCertificateIsRefusedUpFront) {
  ClientOptions options;
  options.url = "https://127.0.0.1:1";
  options.tls = {F("ca.pem"), F("client.pem"), F("server.key")};
  auto created = Client::Create(std::move(options));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ClientError::Kind::kInvalidArgument);
}

}  // namespace
}  // namespace kmsd::client
