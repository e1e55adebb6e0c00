// ApiStack: the whole API in-process over real parts, for e2e tests.
//
// A BrokerHarness (fresh SoftHSM2 token, SQLite store, audit log, data-holder
// ES256 signers per tenant) under a real ApiHandler, served by a real
// kmsd::http::Server on 127.0.0.1:0, plus a test identity provider (an ES256
// key whose public JWK is the IdentityVerifier's key set). The harness clock
// is a ManualClock started at the system time; tokens are minted against it.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/jose/identity_verifier.h"
#include "broker/jose/signer.h"
#include "daemon/api/api_handler.h"
#include "daemon/http/server.h"
#include "tests/e2e/beast_client.h"
#include "tests/integration/broker/broker_harness.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace kmsd::e2e {

inline constexpr const char* kIssuer = "https://idp.test";
inline constexpr const char* kAudience = "kmsd";

// Optional transport/identity extras of a stack.
struct StackExtras {
  std::optional<http::TlsConfig> tls;  // HTTPS (and mutual TLS) instead of plain HTTP
  std::map<std::string, api::ClientCertIdentity, std::less<>> client_certs;
  std::vector<api::ReadinessCheck> readiness;  // run after the stack's own checks
};

class ApiStack {
 public:
  // Null and *error filled when a part cannot be set up.
  static std::unique_ptr<ApiStack> Create(testing::SoftHsmToken& token, api::ApiOptions options,
                                          std::string* error, StackExtras extras = {});
  ~ApiStack();  // stops the server first

  std::uint16_t port() const { return server_->BoundPort(0); }
  testing::BrokerHarness& harness() { return *harness_; }
  api::ApiHandler& handler() { return *handler_; }
  const testing::TempDir& dir() const { return dir_; }

  // A bearer token of the test identity provider.
  std::string Bearer(const std::string& tenant, const std::string& subject,
                     const std::vector<std::string>& roles,
                     std::chrono::seconds ttl = std::chrono::hours(1));
  // Same claims, signed by a key the verifier does not trust (same kid).
  std::string ForgedBearer(const std::string& tenant, const std::string& subject,
                           const std::vector<std::string>& roles);

  Reply Send(const Call& call) { return e2e::Send(port(), call); }

 private:
  ApiStack() = default;
  boost::json::object Claims(const std::string& tenant, const std::string& subject,
                             const std::vector<std::string>& roles, std::chrono::seconds ttl);

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerHarness> harness_;
  std::unique_ptr<jose::JwsSigner> idp_;
  std::unique_ptr<jose::JwsSigner> rogue_;
  std::unique_ptr<jose::IdentityVerifier> identity_;
  std::shared_ptr<api::Metrics> metrics_;
  std::unique_ptr<api::ApiHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

// Base fixture: a fresh token and stack per test. Subclasses may set
// options_ before calling ApiTest::SetUp.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string AdminOf(const std::string& tenant) {
    return stack_->Bearer(tenant, "root", {"encrypt", "decrypt", "admin"});
  }
  std::string UserOf(const std::string& tenant) {
    return stack_->Bearer(tenant, "alice", {"encrypt", "decrypt"});
  }
  // POST /v1/datakeys with `body`; returns the reply.
  Reply Generate(const std::string& bearer, const std::string& body);
  // Generates a record and returns its parsed 201 body (fails the test otherwise).
  boost::json::object NewRecord(const std::string& bearer, const std::string& asset_type,
                                const std::string& asset_id, const std::string& context_id = "");
  Reply Decrypt(const std::string& bearer, const std::string& context_id, const std::string& authz);
  // The error code of an error reply ("" when the body is not one).
  static std::string ErrorCodeOf(const Reply& reply);
  static boost::json::object Json(const Reply& reply);

  api::ApiOptions options_;
  std::unique_ptr<testing::SoftHsmToken> token_;
  std::unique_ptr<ApiStack> stack_;
};

}  // namespace kmsd::e2e
