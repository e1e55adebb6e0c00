// Issue 7's crash test, end to end: a real `kmsd --dev` is killed with
// SIGKILL in the middle of a stream of generate and decrypt requests,
// restarted, and every request that received a key must have its event in the
// verified audit chain.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "broker/audit/audit_files.h"
#include "broker/audit/verify.h"
#include "broker/jose/dev_tokens.h"
#include "tests/e2e/beast_client.h"
#include "tests/support/dev_daemon.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Released {
  std::mutex mutex;
  std::set<std::string> generated;       // context ids whose key was handed out
  std::map<std::string, int> decrypted;  // context id -> keys handed out
  std::vector<std::string> contexts;     // decrypt targets
  std::size_t total() {
    std::lock_guard lock(mutex);
    std::size_t n = generated.size();
    for (const auto& [ctx, count] : decrypted) n += count;
    return n;
  }
};

std::string Bearer(const fs::path& data, Instant now) {
  namespace dev = jose::dev;
  auto signer = jose::JwsSigner::FromPrivateKeyFile(
      std::string(dev::kIdentityKid), data / dev::kIdentityKeyFile, dev::kIdentityAlgorithm);
  dev::IdentityTokenSpec spec;
  spec.tenant = "acme";
  spec.subject = "crash-test";
  spec.roles = {"encrypt", "decrypt", "admin"};
  spec.now = now;
  return dev::MintIdentityToken(signer.value(), spec).value();
}

std::string Authz(const jose::JwsSigner& signer, const std::string& context_id) {
  jose::dev::AuthorizationTokenSpec spec;
  spec.tenant = "acme";
  spec.context_id = context_id;
  spec.now = SystemClock().Now();
  return jose::dev::MintAuthorizationToken(signer, spec).value();
}

// Generates and decrypts from four threads until `stop`.
void Drive(std::uint16_t port, const fs::path& data, Released& released, std::atomic<bool>& stop) {
  namespace dev = jose::dev;
  const std::string bearer = Bearer(data, SystemClock().Now());
  const auto authz_signer = jose::JwsSigner::FromPrivateKeyFile(
      std::string(dev::kSignerKid), data / dev::kSignerKeyFile, dev::kSignerAlgorithm);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int i = 0; !stop; ++i) {
        std::string target;
        if ((i + t) % 2 == 1) {
          std::lock_guard lock(released.mutex);
          if (!released.contexts.empty()) {
            target = released.contexts[random() % released.contexts.size()];
          }
        }
        if (target.empty()) {
          const auto reply =
              e2e::Send(port, {.method = "POST",
                               .target = "/v1/datakeys",
                               .body = R"({"asset_type":"recording","asset_id":"crash"})",
                               .bearer = bearer});
          if (reply.status != 201) continue;
          const auto ctx = std::string(boost::json::parse(reply.body).at("context_id").as_string());
          std::lock_guard lock(released.mutex);
          released.generated.insert(ctx);
          released.contexts.push_back(ctx);
        } else {
          boost::json::object body{{"context_id", target},
                                   {"authorization_token", Authz(authz_signer.value(), target)}};
          const auto reply = e2e::Send(port, {.method = "POST",
                                              .target = "/v1/datakeys/decrypt",
                                              .body = boost::json::serialize(body),
                                              .bearer = bearer});
          if (reply.status != 200) continue;
          std::lock_guard lock(released.mutex);
          ++released.decrypted[target];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
}

TEST(KmsdCrashTest, EveryReleasedKeyHasItsEventInTheVerifiedChainAfterSigkill) {
  if (!fs::exists(kSoftHsmModulePath)) {
    if (IsCi()) FAIL() << "SoftHSM2 missing under CI=true";
    GTEST_SKIP() << "SoftHSM2 missing";
  }
  TempDir dir("kmsd-e2e-crash");
  const fs::path data = dir.path() / "data";
  const fs::path log = dir.path() / "kmsd.log";
  Released released;

  for (const std::size_t kill_at : {40u, 120u}) {
    DevDaemon daemon(KMSD_PATH, data, log);
    ASSERT_TRUE(daemon.WaitHealthy(120s)) << "kmsd did not start; see " << log;
    std::atomic<bool> stop{false};
    std::thread driver([&] { Drive(daemon.port(), data, released, stop); });
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (released.total() < kill_at && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    daemon.Kill();  // mid-stream: requests are in flight
    stop = true;
    driver.join();
    ASSERT_GE(released.total(), kill_at) << "the daemon released too few keys before the deadline";
  }

  DevDaemon daemon(KMSD_PATH, data, log);
  ASSERT_TRUE(daemon.WaitHealthy(120s));
  // The chain verifies (events after the last checkpoint may be unanchored:
  // the daemon was killed, not stopped).
  std::vector<fs::path> files;
  for (const auto& file : audit::ListAuditFiles(data / "audit")) files.push_back(file.path);
  std::ifstream key_file(data / "audit" / "audit-signer.pub.pem");
  const std::string key((std::istreambuf_iterator<char>(key_file)), {});
  const auto report = audit::VerifyAuditFiles(
      files, std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  ASSERT_NE(report.status, audit::VerifyReport::Status::kFailed)
      << audit::FormatVerifyReport(report);

  // Every released key has its allowed event.
  std::set<std::string> generate_events;
  std::map<std::string, int> decrypt_events;
  const std::string bearer = Bearer(data, SystemClock().Now());
  for (std::uint64_t after = 0;;) {
    const auto reply = e2e::Send(
        daemon.port(), {.method = "GET",
                        .target = "/v1/audit?after=" + std::to_string(after) + "&limit=1000",
                        .bearer = bearer});
    ASSERT_EQ(reply.status, 200u) << reply.body;
    const auto page = boost::json::parse(reply.body);
    const auto& events = page.at("events").as_array();
    if (events.empty()) break;
    for (const auto& value : events) {
      const auto& event = value.as_object();
      after = event.at("seq").to_number<std::uint64_t>();
      if (event.at("decision").as_string() != "allow" || !event.contains("context_id")) continue;
      const std::string ctx(event.at("context_id").as_string());
      if (event.at("operation").as_string() == "generate") generate_events.insert(ctx);
      if (event.at("operation").as_string() == "decrypt") ++decrypt_events[ctx];
    }
  }
  int decrypt_keys = 0;
  for (const auto& [ctx, count] : released.decrypted) decrypt_keys += count;
  std::printf(
      "keys released before the two kills: %zu generate, %d decrypt; audit: %zu generate, "
      "%zu decrypted contexts; chain: %s\n",
      released.generated.size(), decrypt_keys, generate_events.size(), decrypt_events.size(),
      audit::FormatVerifyReport(report).c_str());
  for (const auto& ctx : released.generated) EXPECT_TRUE(generate_events.contains(ctx)) << ctx;
  for (const auto& [ctx, count] : released.decrypted) {
    EXPECT_GE(decrypt_events[ctx], count) << ctx;
  }
  EXPECT_GT(released.decrypted.size(), 0u);
}

// An operator runs `kmsd` by hand while the service is up (same config, here
// the same dev data dir): the second process must exit before it writes a
// line, and the running daemon's chain must still verify afterwards.
TEST(KmsdCrashTest, SecondDaemonOnTheSameDataDirExitsAndTheChainStaysIntact) {
  if (!fs::exists(kSoftHsmModulePath)) {
    if (IsCi()) FAIL() << "SoftHSM2 missing under CI=true";
    GTEST_SKIP() << "SoftHSM2 missing";
  }
  TempDir dir("kmsd-e2e-second");
  const fs::path data = dir.path() / "data";
  DevDaemon first(KMSD_PATH, data, dir.path() / "first.log");
  ASSERT_TRUE(first.WaitHealthy(120s));
  const std::string bearer = Bearer(data, SystemClock().Now());
  const e2e::Call generate{.method = "POST",
                           .target = "/v1/datakeys",
                           .body = R"({"asset_type":"recording","asset_id":"a/1"})",
                           .bearer = bearer};
  ASSERT_EQ(e2e::Send(first.port(), generate).status, 201u);

  {
    DevDaemon second(KMSD_PATH, data, dir.path() / "second.log");
    EXPECT_FALSE(second.WaitHealthy(60s)) << "a second daemon served the same data dir";
  }
  std::ifstream second_log(dir.path() / "second.log");
  const std::string second_text((std::istreambuf_iterator<char>(second_log)), {});
  // The store's lock stops it, before it opens a token (docs/store.md).
  EXPECT_NE(second_text.find("kmsd.db is in use by another kmsd process"), std::string::npos)
      << second_text;
  EXPECT_EQ(second_text.find("token "), std::string::npos) << second_text;

  ASSERT_EQ(e2e::Send(first.port(), generate).status, 201u);
  EXPECT_EQ(first.Terminate(), 0);
  std::vector<fs::path> files;
  for (const auto& file : audit::ListAuditFiles(data / "audit")) files.push_back(file.path);
  std::ifstream key_file(data / "audit" / "audit-signer.pub.pem");
  const std::string key((std::istreambuf_iterator<char>(key_file)), {});
  const auto report = audit::VerifyAuditFiles(
      files, std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  EXPECT_EQ(report.status, audit::VerifyReport::Status::kOk) << audit::FormatVerifyReport(report);
}

}  // namespace
}  // namespace kmsd::testing
