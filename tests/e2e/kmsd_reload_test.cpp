// SIGHUP on a real `kmsd --dev`: policies and identity-provider keys are
// re-read; a reload that finds a broken policy or key file keeps the state in
// force and says why in the log.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "broker/jose/dev_tokens.h"
#include "broker/jose/signer.h"
#include "tests/e2e/beast_client.h"
#include "tests/support/dev_daemon.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
namespace dev = jose::dev;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void Sql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  const int changes = sqlite3_changes(db);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql;
  ASSERT_EQ(changes, 1) << sql;
}

class KmsdReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kSoftHsmModulePath)) {
      if (IsCi()) FAIL() << "SoftHSM2 missing under CI=true";
      GTEST_SKIP() << "SoftHSM2 missing";
    }
    daemon_ = std::make_unique<DevDaemon>(KMSD_PATH, data_, log_);
    ASSERT_TRUE(daemon_->WaitHealthy(120s)) << Slurp(log_);
    auto signer = jose::JwsSigner::FromPrivateKeyFile(
        std::string(dev::kIdentityKid), data_ / dev::kIdentityKeyFile, dev::kIdentityAlgorithm);
    dev::IdentityTokenSpec spec;
    spec.tenant = "acme";
    spec.subject = "admin";
    spec.roles = {"encrypt", "decrypt", "admin"};
    spec.now = SystemClock().Now();
    bearer_ = dev::MintIdentityToken(signer.value(), spec).value();
  }

  e2e::Reply Call(std::string method, std::string target, std::string body = "") {
    return e2e::Send(daemon_->port(), {.method = std::move(method),
                                       .target = std::move(target),
                                       .body = std::move(body),
                                       .bearer = bearer_});
  }

  std::string Authz(const std::string& context_id) {
    auto signer = jose::JwsSigner::FromPrivateKeyFile(
        std::string(dev::kSignerKid), data_ / dev::kSignerKeyFile, dev::kSignerAlgorithm);
    dev::AuthorizationTokenSpec spec;
    spec.tenant = "acme";
    spec.context_id = context_id;
    spec.now = SystemClock().Now();
    return dev::MintAuthorizationToken(signer.value(), spec).value();
  }

  unsigned DecryptStatus(const std::string& context_id, const std::string& authz = "") {
    boost::json::object body{{"context_id", context_id},
                             {"authorization_token", authz.empty() ? Authz(context_id) : authz}};
    return Call("POST", "/v1/datakeys/decrypt", boost::json::serialize(body)).status;
  }

  // SIGHUP, then waits until the log shows the reload's outcome line.
  void Reload(const std::string& expected_line) {
    daemon_->Signal(SIGHUP);
    for (int i = 0; i < 100 && Slurp(log_).find(expected_line) == std::string::npos; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(Slurp(log_).find(expected_line), std::string::npos) << Slurp(log_);
  }

  TempDir dir_{"kmsd-e2e-reload"};
  fs::path data_ = dir_.path() / "data";
  fs::path log_ = dir_.path() / "kmsd.log";
  std::unique_ptr<DevDaemon> daemon_;
  std::string bearer_;
};

TEST_F(KmsdReloadTest, ValidPolicyChangeTakesEffectAndABrokenOneKeepsThePolicyInForce) {
  const auto generated =
      Call("POST", "/v1/datakeys", R"({"asset_type":"recording","asset_id":"r-1"})");
  ASSERT_EQ(generated.status, 201u) << generated.body;
  const std::string ctx(boost::json::parse(generated.body).at("context_id").as_string());
  ASSERT_EQ(Call("PUT", "/v1/policy",
                 R"({"default":"allow","rules":[{"id":"deny-recordings","effect":"deny",)"
                 R"("operations":["decrypt"],"asset_types":["recording"]}]})")
                .status,
            200u);
  ASSERT_EQ(DecryptStatus(ctx), 403u);

  // The stored document changes out of band (e.g. restored from a backup).
  Sql(data_ / "kmsd.db",
      R"(UPDATE policies SET document='{"default":"allow","rules":[]}' WHERE tenant='acme')");
  EXPECT_EQ(DecryptStatus(ctx), 403u) << "the cached policy is in force until SIGHUP";
  Reload("reload: policies, keys and certificates re-read");
  EXPECT_EQ(DecryptStatus(ctx), 200u);

  // A deny policy in force again, then its stored document broken: the
  // reload says so and the deny stays (not the built-in allow default).
  Sql(data_ / "kmsd.db",
      R"(UPDATE policies SET document='{"default":"allow","rules":[{"id":"deny-recordings",)"
      R"("effect":"deny","operations":["decrypt"],"asset_types":["recording"]}]}' )"
      R"(WHERE tenant='acme')");
  Reload("reload: policies, keys and certificates re-read");
  ASSERT_EQ(DecryptStatus(ctx), 403u);
  Sql(data_ / "kmsd.db", "UPDATE policies SET document='{broken' WHERE tenant='acme'");
  Reload("previous policy kept for tenant(s) acme");
  EXPECT_EQ(DecryptStatus(ctx), 403u) << "the deny in force was dropped";
}

// The identity provider rotates its signing key: after SIGHUP, tokens signed
// with the new key are accepted and those signed with the old one refused.
TEST_F(KmsdReloadTest, RotatedIdentityKeyIsInForceAfterSighup) {
  ASSERT_EQ(Call("GET", "/v1/keys").status, 200u);
  const fs::path new_key = dir_.path() / "rotated-idp.key";
  const fs::path new_jwks = dir_.path() / "rotated-idp.jwks.json";
  ASSERT_TRUE(jose::EnsureDevKeyPair(new_key, new_jwks, "rotated-idp", dev::kIdentityAlgorithm));
  auto signer =
      jose::JwsSigner::FromPrivateKeyFile("rotated-idp", new_key, dev::kIdentityAlgorithm);
  dev::IdentityTokenSpec spec;
  spec.tenant = "acme";
  spec.subject = "admin";
  spec.roles = {"admin"};
  spec.now = SystemClock().Now();
  const std::string rotated_bearer = dev::MintIdentityToken(signer.value(), spec).value();
  const std::string old_bearer = bearer_;
  bearer_ = rotated_bearer;
  EXPECT_EQ(Call("GET", "/v1/keys").status, 401u) << "a key not yet published was accepted";

  fs::copy_file(new_jwks, data_ / dev::kIdentityJwksFile, fs::copy_options::overwrite_existing);
  Reload("reload: policies, keys and certificates re-read");
  EXPECT_EQ(Call("GET", "/v1/keys").status, 200u);
  bearer_ = old_bearer;
  EXPECT_EQ(Call("GET", "/v1/keys").status, 401u) << "the retired key (and its cache) survived";
}

// A spent authorization token stays spent across a restart (and a crash):
// its jti is kept in the store, not only in memory.
TEST_F(KmsdReloadTest, AuthorizationTokenSpentBeforeARestartStaysSpent) {
  const auto generated =
      Call("POST", "/v1/datakeys", R"({"asset_type":"recording","asset_id":"r-1"})");
  ASSERT_EQ(generated.status, 201u) << generated.body;
  const std::string ctx(boost::json::parse(generated.body).at("context_id").as_string());
  const std::string authz = Authz(ctx);
  ASSERT_EQ(DecryptStatus(ctx, authz), 200u);
  ASSERT_EQ(DecryptStatus(ctx, authz), 403u);
  EXPECT_EQ(daemon_->Terminate(), 0);
  daemon_ = std::make_unique<DevDaemon>(KMSD_PATH, data_, log_);
  ASSERT_TRUE(daemon_->WaitHealthy(120s)) << Slurp(log_);
  EXPECT_EQ(DecryptStatus(ctx, authz), 403u) << "replayed after a restart";
  daemon_->Kill();
  daemon_ = std::make_unique<DevDaemon>(KMSD_PATH, data_, log_);
  ASSERT_TRUE(daemon_->WaitHealthy(120s)) << Slurp(log_);
  EXPECT_EQ(DecryptStatus(ctx, authz), 403u) << "replayed after a crash";
  EXPECT_EQ(DecryptStatus(ctx), 200u) << "a fresh token still works";
}

TEST_F(KmsdReloadTest, BrokenIdentityKeyFileKeepsTheKeysInForce) {
  ASSERT_EQ(Call("GET", "/v1/keys").status, 200u);
  const fs::path jwks = data_ / dev::kIdentityJwksFile;
  const std::string good = Slurp(jwks);
  std::ofstream(jwks, std::ios::trunc) << "not a key set";
  Reload("identity provider keys");
  EXPECT_EQ(Call("GET", "/v1/keys").status, 200u) << "the previous keys stay in force";
  std::ofstream(jwks, std::ios::trunc) << R"({"keys": []})";  // well-formed, verifies nothing
  Reload("JWKS holds no key");
  EXPECT_EQ(Call("GET", "/v1/keys").status, 200u) << "an empty key set locked callers out";
  std::ofstream(jwks, std::ios::trunc) << good;
  Reload("reload: policies, keys and certificates re-read");
  EXPECT_EQ(Call("GET", "/v1/keys").status, 200u);
}

}  // namespace
}  // namespace kmsd::testing
