// TLS behaviour of kmsd::http::Server: protocol versions, mutual TLS, peer
// identity and certificate reload. Certificates come from a CA generated
// at run time (test_pki.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "daemon/http/server.h"
#include "tests/integration/http/echo_handler.h"
#include "tests/integration/http/test_client.h"
#include "tests/integration/http/test_pki.h"

namespace kmsd::http {
namespace {

using namespace std::chrono_literals;
using testing::EchoHandler;
using testing::TestClient;
using testing::TestPki;
using testing::TlsOptions;

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::GetTestPki();
    ASSERT_NE(pki_, nullptr);
    // Each test gets its own copy of the server files so reload can overwrite them.
    dir_ = pki_->dir + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(testing::CopyFile(pki_->server_one_cert, dir_ + "/server.pem"));
    ASSERT_TRUE(testing::CopyFile(pki_->server_one_key, dir_ + "/server.key"));
  }

  // This test's copy of the server certificate and key.
  TlsConfig ServerFiles() const {
    TlsConfig tls;
    tls.certificate_chain_file = dir_ + "/server.pem";
    tls.private_key_file = dir_ + "/server.key";
    return tls;
  }

  // Why a server on `tls` refuses to start (the test fails if it starts).
  Error StartRefusal(const TlsConfig& tls) {
    ServerConfig config;
    config.listeners.push_back(ListenerConfig{"api", "127.0.0.1", 0, tls});
    Server server(config, handler_);
    auto status = server.Start();
    EXPECT_FALSE(status);
    EXPECT_EQ(server.BoundPort(0), 0);
    return status ? Error{} : status.error();
  }

  void StartServer(bool mutual_tls) {
    TlsConfig tls = ServerFiles();
    tls.require_client_certificate = mutual_tls;
    if (mutual_tls) tls.client_ca_file = pki_->ca_one;
    ServerConfig config;
    config.listeners.push_back(ListenerConfig{"api", "127.0.0.1", 0, tls});
    config.handshake_timeout = 5s;
    server_ = std::make_unique<Server>(config, handler_);
    auto status = server_->Start();
    ASSERT_TRUE(status) << status.error().message;
    port_ = server_->BoundPort(0);
  }

  TlsOptions Trusting() const {
    TlsOptions options;
    options.ca_file = pki_->ca_one;
    return options;
  }
  TlsOptions WithClientCert(const std::string& cert, const std::string& key) const {
    TlsOptions options = Trusting();
    options.cert_file = cert;
    options.key_file = key;
    return options;
  }

  // A client over TLS with these options whose POST /echo comes back 200
  // with its body; nullptr (and a test failure) otherwise.
  std::unique_ptr<TestClient> EchoingClient(const TlsOptions& options, const std::string& body) {
    auto client = TestClient::Tls(port_, options);
    EXPECT_TRUE(client);
    if (!client) return nullptr;
    auto reply = client->Post("/echo", body);
    EXPECT_TRUE(reply);
    if (!reply) return nullptr;
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->body, body);
    return std::make_unique<TestClient>(std::move(*client));
  }

  // Refused at handshake: either the client's handshake fails, or (TLS 1.3,
  // where the server checks the client certificate after the client has
  // finished) the first read fails. Either way no HTTP reply and no handler call.
  void ExpectRefused(const TlsOptions& options) {
    auto client = TestClient::Tls(port_, options);
    if (client) {
      client->Send("GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
      EXPECT_FALSE(client->Read(5s).has_value());
    }
    EXPECT_EQ(handler_.calls.load(), 0);
    EXPECT_EQ(HandshakeFailuresSettled(), 1u);
  }

  // The server counts a failed handshake in its completion handler, which may
  // run just after the client has already seen the alert.
  std::uint64_t HandshakeFailuresSettled() {
    for (int i = 0; i < 100 && server_->Stats().handshake_failures == 0; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    return server_->Stats().handshake_failures;
  }

  const TestPki* pki_ = nullptr;
  std::string dir_;
  EchoHandler handler_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpsServerTest, ServesTls13AndTls12) {
  StartServer(false);
  auto tls13 = EchoingClient(Trusting(), "over tls");
  ASSERT_TRUE(tls13);
  EXPECT_EQ(tls13->ServerCertificateCn(), "server-one");

  TlsOptions only12 = Trusting();
  only12.max_version = TLS1_2_VERSION;
  EXPECT_TRUE(EchoingClient(only12, "1.2"));
}

// docs/http-server.md: no session tickets. SSL_OP_NO_TICKET alone still
// let OpenSSL send TLS 1.3 tickets (stateful ones), so a client kept a
// resumable session.
TEST_F(HttpsServerTest, Tls13ClientsGetNoSessionTicket) {
  StartServer(false);
  // The reply's read also processes whatever post-handshake messages came first.
  auto client = EchoingClient(Trusting(), "after the handshake");
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->SessionIsResumable());
}

TEST_F(HttpsServerTest, Tls11IsRefusedByTheServer) {
  StartServer(false);
  TlsOptions old = Trusting();
  old.min_version = TLS1_VERSION;
  old.max_version = TLS1_1_VERSION;
  old.security_level_zero = true;  // the client would offer 1.1; the server must say no
  EXPECT_FALSE(TestClient::Tls(port_, old).has_value());
  EXPECT_EQ(HandshakeFailuresSettled(), 1u);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpsServerTest, PlainHttpOnATlsListenerGetsNoHttpReply) {
  StartServer(false);
  auto client = TestClient::Plain(port_);
  ASSERT_TRUE(client);
  client->Send("GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_FALSE(client->Read(5s).has_value());
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpsServerTest, MutualTlsWithoutAClientCertificateIsRefused) {
  StartServer(true);
  ExpectRefused(Trusting());
}

TEST_F(HttpsServerTest, MutualTlsWithACertificateFromAnotherCaIsRefused) {
  StartServer(true);
  ExpectRefused(WithClientCert(pki_->client_other_cert, pki_->client_other_key));
}

TEST_F(HttpsServerTest, MutualTlsClientIdentityReachesTheHandler) {
  StartServer(true);
  auto client = TestClient::Tls(port_, WithClientCert(pki_->client_one_cert, pki_->client_one_key));
  ASSERT_TRUE(client);
  auto reply = client->Get("/peer");
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->status, 200u);
  const std::string expected_fingerprint = testing::CertificateSha256(pki_->client_one_cert);
  ASSERT_EQ(expected_fingerprint.size(), 64u);
  EXPECT_EQ(reply->body, "client-one|" + expected_fingerprint +
                             "|DNS:client-one.test,email:ops@example.test,IP:10.1.2.3");
}

TEST_F(HttpsServerTest, ReloadTlsSwapsTheCertificateForNewConnectionsOnly) {
  StartServer(false);
  auto before = TestClient::Tls(port_, Trusting());
  ASSERT_TRUE(before);
  ASSERT_TRUE(before->Post("/echo", "a"));
  EXPECT_EQ(before->ServerCertificateCn(), "server-one");

  ASSERT_TRUE(testing::CopyFile(pki_->server_two_cert, dir_ + "/server.pem"));
  ASSERT_TRUE(testing::CopyFile(pki_->server_two_key, dir_ + "/server.key"));
  ASSERT_TRUE(server_->ReloadTls());

  auto after = TestClient::Tls(port_, Trusting());
  ASSERT_TRUE(after);
  EXPECT_EQ(after->ServerCertificateCn(), "server-two");
  auto reply = before->Post("/echo", "still here");  // the old connection keeps working
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "still here");
}

TEST_F(HttpsServerTest, BrokenReloadKeepsTheCurrentCertificate) {
  StartServer(false);
  { std::ofstream(dir_ + "/server.pem", std::ios::trunc) << "not a certificate\n"; }
  auto status = server_->ReloadTls();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  auto client = TestClient::Tls(port_, Trusting());
  ASSERT_TRUE(client);
  EXPECT_EQ(client->ServerCertificateCn(), "server-one");
}

TEST_F(HttpsServerTest, MutualTlsWithoutACaIsRefusedAtStart) {
  TlsConfig tls = ServerFiles();
  tls.require_client_certificate = true;
  EXPECT_EQ(StartRefusal(tls).code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpsServerTest, KeyThatDoesNotMatchTheCertificateIsRefusedAtStart) {
  TlsConfig tls = ServerFiles();
  tls.private_key_file = pki_->server_two_key;
  const Error refusal = StartRefusal(tls);
  EXPECT_EQ(refusal.code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(refusal.message.ends_with(".tls.key_file: key rejected")) << refusal.message;
}

TEST_F(HttpsServerTest, KeyFileOpenToOthersIsRefusedAtStart) {
  std::filesystem::permissions(dir_ + "/server.key", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  const Error refusal = StartRefusal(ServerFiles());
  EXPECT_EQ(refusal.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(refusal.message, "http.listeners[0].tls.key_file: " + dir_ +
                                 "/server.key: readable or writable by others (mode 0604): "
                                 "chmod o-rwx");
}

TEST_F(HttpsServerTest, NonLoopbackTlsListenerNeedsNoDevFlag) {
  TlsConfig tls;
  tls.certificate_chain_file = dir_ + "/server.pem";
  tls.private_key_file = dir_ + "/server.key";
  ServerConfig config;
  config.listeners.push_back(ListenerConfig{"api", "0.0.0.0", 0, tls});
  EXPECT_TRUE(ValidateServerConfig(config));
}

}  // namespace
}  // namespace kmsd::http
