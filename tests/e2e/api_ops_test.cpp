// Health, readiness, metrics, rate limits, audit fail-closed, and the log
// leak check.
#include <openssl/evp.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "common/locked_pool.h"
#include "common/scope_guard.h"
#include "tests/e2e/api_stack.h"
#include "tests/support/log_capture.h"

namespace kmsd::e2e {
namespace {

class ApiOpsTest : public ApiTest {
 protected:
  void SetUp() override {
    options_.readiness_cache = std::chrono::milliseconds(0);
    options_.rate_limits["limited"] = {.rps = 1, .burst = 2};
    ApiTest::SetUp();
  }
};

int Chattr(const char* flag, const std::filesystem::path& p) {
  const std::string cmd = std::string("chattr ") + flag + " '" + p.string() + "' 2>/dev/null";
  return std::system(cmd.c_str());
}

// A readiness check that hangs (a token that stopped answering) holds the one
// worker running it; every other /readyz answers within readiness_stall,
// 503 naming that check, instead of queueing behind it.
TEST_F(ApiOpsTest, HungReadinessCheckTiesUpOneWorkerAndIsNamed) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> entered{0};
  StackExtras extras;
  extras.readiness.push_back({"token:hung", [released, &entered]() -> Status {
                                ++entered;
                                released.wait();
                                return {};
                              }});
  options_.readiness_stall = std::chrono::milliseconds(200);
  stack_.reset();
  std::string error;
  stack_ = ApiStack::Create(*token_, options_, &error, std::move(extras));
  ASSERT_TRUE(stack_) << error;
  std::future<Reply> first;
  std::future<Reply> second;
  // Declared after the futures: on a failed ASSERT the check is released
  // before they wait for their requests.
  ScopeGuard guard([&] { release.set_value(); });

  first = std::async(std::launch::async, [&] { return stack_->Send({.target = "/readyz"}); });
  for (int i = 0; i < 500 && entered.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(entered.load(), 1);
  second = std::async(std::launch::async, [&] { return stack_->Send({.target = "/readyz"}); });
  ASSERT_EQ(second.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "a second /readyz waited for the hung check";
  const auto reply = second.get();
  EXPECT_EQ(reply.status, 503u);
  EXPECT_EQ(reply.body, R"({"status":"unavailable","failing":["token:hung"]})");
  EXPECT_EQ(entered.load(), 1) << "the check runs on one worker at a time";

  guard.Dismiss();
  release.set_value();
  const auto done = first.get();
  EXPECT_EQ(done.status, 200u) << done.body;
}

TEST_F(ApiOpsTest, HealthzReadyzAndMetricsAnswer) {
  auto health = stack_->Send({.target = "/healthz"});
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  auto ready = stack_->Send({.target = "/readyz"});
  EXPECT_EQ(ready.status, 200u) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"ready"})");

  const auto bearer = UserOf("acme");
  NewRecord(bearer, "recording", "m1");
  Generate("", R"({"asset_type":"recording","asset_id":"a"})");  // an authn failure
  auto metrics = stack_->Send({.target = "/metrics"});
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.Header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  const auto& text = metrics.body;
  EXPECT_NE(text.find(R"(kmsd_api_requests_total{route="/v1/datakeys",status="201"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(kmsd_api_requests_total{route="/v1/datakeys",status="401"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(kmsd_broker_operation_duration_seconds_count{operation="generate"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find("kmsd_authn_failures_total 1"), std::string::npos);
  EXPECT_NE(text.find("kmsd_audit_healthy 1"), std::string::npos);
  EXPECT_NE(text.find("kmsd_http_replies_total{status=\"201\"}"), std::string::npos);
  EXPECT_NE(text.find("kmsd_secret_memory_unlocked_bytes " +
                      std::to_string(locked_pool::CurrentStats().unlocked_bytes) + "\n"),
            std::string::npos);
  // Never a tenant or principal as a label.
  EXPECT_EQ(text.find("acme"), std::string::npos);
  EXPECT_EQ(text.find("alice"), std::string::npos);
}

TEST_F(ApiOpsTest, RateLimitAnswers429WithRetryAfterPerTenant) {
  const auto limited = UserOf("limited");
  const std::string body = R"({"asset_type":"recording","asset_id":"r"})";
  EXPECT_EQ(Generate(limited, body).status, 201u);
  EXPECT_EQ(Generate(limited, body).status, 201u);
  auto refused = Generate(limited, body);
  EXPECT_EQ(refused.status, 429u);
  EXPECT_EQ(ErrorCodeOf(refused), "rate_limited");
  EXPECT_EQ(refused.Header("retry-after"), "1");
  // Another tenant is not limited.
  const auto other = UserOf("acme");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Generate(other, body).status, 201u);
  // A second later one token is back.
  stack_->harness().clock().Advance(std::chrono::seconds(1));
  EXPECT_EQ(Generate(limited, body).status, 201u);
  auto metrics = stack_->Send({.target = "/metrics"});
  EXPECT_NE(metrics.body.find("kmsd_rate_limited_total 1"), std::string::npos);
}

TEST_F(ApiOpsTest, UnwritableAuditFailsClosedAndReadinessRecovers) {
  const auto bearer = UserOf("acme");
  auto before = NewRecord(bearer, "recording", "before");
  const std::string context_id(before.at("context_id").as_string());
  const auto audit_dir = stack_->dir().path() / "audit";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(audit_dir)) {
    files.push_back(entry.path());
  }
  ASSERT_FALSE(files.empty());
  if (Chattr("+i", files.front()) != 0) GTEST_SKIP() << "chattr +i not supported here";
  ScopeGuard undo([&] {
    Chattr("-i", audit_dir);
    for (const auto& f : files) Chattr("-i", f);
  });
  for (const auto& f : files) ASSERT_EQ(Chattr("+i", f), 0);
  ASSERT_EQ(Chattr("+i", audit_dir), 0);

  auto refused = Generate(bearer, R"({"asset_type":"recording","asset_id":"during"})");
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_EQ(ErrorCodeOf(refused), "audit_unavailable");
  EXPECT_EQ(refused.body.find("plaintext_key"), std::string::npos);
  const auto outage_authz = stack_->harness().Authz("acme", context_id);
  auto refused_decrypt = Decrypt(bearer, context_id, outage_authz);
  EXPECT_EQ(refused_decrypt.status, 503u) << refused_decrypt.body;
  EXPECT_EQ(ErrorCodeOf(refused_decrypt), "audit_unavailable");
  EXPECT_EQ(refused_decrypt.body.find("plaintext_key"), std::string::npos);

  auto not_ready = stack_->Send({.target = "/readyz"});
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_EQ(not_ready.body, R"({"status":"unavailable","failing":["audit"]})");

  Chattr("-i", audit_dir);
  for (const auto& f : files) Chattr("-i", f);
  // The audit writer retries on its own; readiness follows without a restart.
  Reply ready;
  for (int i = 0; i < 100; ++i) {
    ready = stack_->Send({.target = "/readyz"});
    if (ready.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ready.status, 200u) << ready.body;
  auto after = Generate(bearer, R"({"asset_type":"recording","asset_id":"after"})");
  EXPECT_EQ(after.status, 201u) << after.body;
  // The 503 released nothing, so the token it carried was given back: the
  // client retries with the same one.
  auto decrypted = Decrypt(bearer, context_id, outage_authz);
  EXPECT_EQ(decrypted.status, 200u) << decrypted.body;
}

std::vector<std::uint8_t> Base64Bytes(const std::string& text) {
  std::vector<std::uint8_t> out(text.size());
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) - (text.ends_with("=") ? 1 : 0) : 0);
  return out;
}

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A 500 reaches the operator: logged at error level with its cause and the
// request id the client saw (it was an info line with neither).
TEST_F(ApiOpsTest, InternalErrorIsLoggedAtErrorLevelWithItsRequestId) {
  {  // a stored policy that no longer parses: the tenant's requests fail closed
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(stack_->harness().db_path().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "INSERT INTO policies (tenant, version, document, updated_at) "
                           "VALUES ('acme', 1, '{not json', 0)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  testing::LogCapture capture;
  const auto reply = stack_->Send({.method = "POST",
                                   .target = "/v1/datakeys",
                                   .body = R"({"asset_type":"recording","asset_id":"a"})",
                                   .bearer = AdminOf("acme"),
                                   .headers = {{"X-Request-Id", "req-500-probe"}}});
  ASSERT_EQ(reply.status, 500u);
  EXPECT_EQ(ErrorCodeOf(reply), "internal");
  const std::string log = capture.Text();
  EXPECT_NE(log.find("[error] stored policy v1 of tenant acme no longer parses"), std::string::npos)
      << log;
  EXPECT_NE(log.find("[error] internal error: stored policy no longer parses"), std::string::npos)
      << log;
  EXPECT_NE(log.find("[error] http method=POST route=/v1/datakeys status=500"), std::string::npos)
      << log;
  EXPECT_NE(log.find("request_id=req-500-probe"), std::string::npos) << log;
}

TEST_F(ApiOpsTest, NothingSecretReachesTheLog) {
  testing::LogCapture capture;
  std::vector<std::string> tokens;
  std::vector<std::vector<std::uint8_t>> keys;
  const auto admin = AdminOf("acme");
  const auto user = UserOf("globex");
  tokens = {admin, user};
  for (int i = 0; i < 3; ++i) {
    for (const auto& bearer : {admin, user}) {
      auto created = NewRecord(bearer, "recording", "leak-" + std::to_string(i));
      const std::string id(created.at("context_id").as_string());
      keys.push_back(Base64Bytes(std::string(created.at("plaintext_key").as_string())));
      const auto tenant = bearer == admin ? "acme" : "globex";
      const auto authz = stack_->harness().Authz(tenant, id);
      tokens.push_back(authz);
      auto decrypted = Decrypt(bearer, id, authz);
      ASSERT_EQ(decrypted.status, 200u);
      keys.push_back(Base64Bytes(std::string(Json(decrypted).at("plaintext_key").as_string())));
      // A failure path too: replay and a forged bearer.
      Decrypt(bearer, id, authz);
    }
  }
  const auto forged = stack_->ForgedBearer("acme", "mallory", {"admin"});
  tokens.push_back(forged);
  Generate(forged, R"({"asset_type":"recording","asset_id":"x"})");
  stack_->Send({.target = "/v1/audit", .bearer = admin});
  // Stop the server before reading: its threads log after a reply is sent
  // ("http reply"), and the capture must have seen every line.
  stack_.reset();

  const auto text = capture.Text();
  ASSERT_NE(text.find("route=/v1/datakeys"), std::string::npos);  // the capture saw requests
  EXPECT_FALSE(capture.Contains(token_->pin().expose())) << "PIN in log";
  EXPECT_FALSE(capture.Contains(token_->so_pin().expose())) << "SO PIN in log";
  for (const auto& token : tokens) {
    EXPECT_FALSE(capture.Contains(Bytes(token))) << "token in log";
    // The signature segment alone is enough to replay nothing, but it should not appear either.
    EXPECT_EQ(text.find(token.substr(token.rfind('.') + 1)), std::string::npos);
  }
  ASSERT_EQ(keys.size(), 12u);
  for (const auto& key : keys) {
    ASSERT_EQ(key.size(), 32u);
    EXPECT_FALSE(capture.Contains(key)) << "key in log";
  }
}

}  // namespace
}  // namespace kmsd::e2e

namespace kmsd::e2e {
namespace {

// The token's storage taken away under a running daemon: no key may leave,
// the refusals are 503 hsm_unavailable (retryable: the decrypt's
// authorization token is not spent by it), /readyz names the token, and all
// recover when the storage is back, without a restart.
std::filesystem::path TokenDir() {
  std::ifstream conf(testing::SoftHsmToken::ConfPath());
  std::string line;
  while (std::getline(conf, line)) {
    const std::string key = "directories.tokendir = ";
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  }
  return {};
}

TEST_F(ApiOpsTest, TokenStorageGoneRefusesAndReadinessRecovers) {
  const auto bearer = UserOf("acme");
  auto before = NewRecord(bearer, "recording", "before");
  const std::string context_id(before.at("context_id").as_string());
  const auto authz = stack_->harness().Authz("acme", context_id);
  const auto dir = TokenDir();
  ASSERT_FALSE(dir.empty());
  const auto moved = dir.string() + ".away";
  std::filesystem::rename(dir, moved);
  ScopeGuard restore([&] {
    std::error_code ignored;
    if (!std::filesystem::exists(dir)) std::filesystem::rename(moved, dir, ignored);
  });
  auto refused = Generate(bearer, R"({"asset_type":"recording","asset_id":"during"})");
  auto refused_decrypt = Decrypt(bearer, context_id, authz);
  auto not_ready = stack_->Send({.target = "/readyz"});
  std::filesystem::rename(moved, dir);
  // The token lost its objects: retryable 503, never 404/500, no label leaked.
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_EQ(ErrorCodeOf(refused), "hsm_unavailable") << refused.body;
  EXPECT_EQ(refused.body.find("kmsd:"), std::string::npos) << refused.body;
  EXPECT_EQ(refused_decrypt.status, 503u) << refused_decrypt.body;
  EXPECT_EQ(ErrorCodeOf(refused_decrypt), "hsm_unavailable") << refused_decrypt.body;
  EXPECT_EQ(refused_decrypt.body.find("plaintext_key"), std::string::npos);
  EXPECT_EQ(not_ready.status, 503u) << not_ready.body;
  EXPECT_NE(not_ready.body.find("token:primary"), std::string::npos) << not_ready.body;
  Reply ready;
  for (int i = 0; i < 100; ++i) {
    ready = stack_->Send({.target = "/readyz"});
    if (ready.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ready.status, 200u) << ready.body;
  auto after = Generate(bearer, R"({"asset_type":"recording","asset_id":"after"})");
  EXPECT_EQ(after.status, 201u) << after.body;
  auto retried = Decrypt(bearer, context_id, authz);  // the same authorization token
  EXPECT_EQ(retried.status, 200u) << retried.body;
  EXPECT_EQ(Json(retried).at("plaintext_key"), before.at("plaintext_key"));
}

}  // namespace
}  // namespace kmsd::e2e

namespace kmsd::e2e {
namespace {

class ApiAuthnFloodTest : public ApiTest {
 protected:
  void SetUp() override {
    options_.authn_failure_burst = 2;
    options_.authn_failure_window = std::chrono::seconds(60);
    ApiTest::SetUp();
  }
};

TEST_F(ApiAuthnFloodTest, FailuresBeyondTheBurstBecomeOneSummaryEvent) {
  auto& log = stack_->harness().audit_log();
  const auto before = log.stats().events;
  for (int i = 0; i < 5; ++i) {
    auto reply = Generate("", R"({"asset_type":"recording","asset_id":"a"})");
    ASSERT_EQ(reply.status, 401u);
  }
  EXPECT_EQ(log.stats().events - before, 2u);  // the burst, one by one
  stack_->handler().FlushAuthnFailures();      // window still open: nothing yet
  EXPECT_EQ(log.stats().events - before, 2u);
  stack_->harness().clock().Advance(std::chrono::seconds(61));
  stack_->handler().FlushAuthnFailures();
  EXPECT_EQ(log.stats().events - before, 3u);  // + authn_failure_summary "suppressed=3"
  auto metrics = stack_->Send({.target = "/metrics"});
  EXPECT_NE(metrics.body.find("kmsd_authn_failures_total 5"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::e2e
