// A crash at any moment loses no record whose key was handed out: a child
// process generates keys from several threads and reports each acknowledged
// context id (with a digest of its key) through a pipe; the parent kills it
// with SIGKILL mid-stream, reopens everything and decrypts every reported id.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/broker/broker_harness.h"

namespace kmsd::testing {
namespace {

std::string Digest(std::span<const std::uint8_t> key) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key.data(), key.size(), digest);
  std::string hex;
  for (std::uint8_t b : digest)
    hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
  return hex;
}

[[noreturn]] void RunChild(const TempDir& dir, SoftHsmToken& token, int pipe_fd) {
  std::string error;
  auto harness = BrokerHarness::Create(dir, token, nullptr, {}, &error);
  if (!harness) _exit(3);
  std::mutex write_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      const auto caller = BrokerHarness::CallerOf("acme", policy::kRoleEncrypt);
      for (;;) {
        auto reply = harness->broker().Generate(caller, {"recording", "crash", {}});
        if (!reply) continue;
        const std::string line =
            reply->context_id + " " + Digest(reply->plaintext_key.expose()) + "\n";
        std::lock_guard lock(write_mutex);
        // One write per line, below PIPE_BUF: atomic, so the parent never
        // sees half a line from a killed child.
        if (write(pipe_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(BrokerCrashTest, EveryAcknowledgedKeyDecryptsAfterSigkill) {
  std::unique_ptr<SoftHsmToken> token;
  KMSD_REQUIRE_SOFTHSM_TOKEN(token);
  TempDir dir("kmsd-crash");
  std::map<std::string, std::string> acknowledged;  // context id -> key digest

  for (const std::size_t kill_after : {25u, 120u, 300u}) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      RunChild(dir, *token, fds[1]);
    }
    close(fds[1]);
    std::string buffer;
    std::size_t lines_this_round = 0;
    bool killed = false;
    char chunk[4096];
    for (ssize_t n; (n = read(fds[0], chunk, sizeof chunk)) > 0;) {
      buffer.append(chunk, n);
      for (std::size_t eol; (eol = buffer.find('\n')) != std::string::npos;) {
        std::istringstream line(buffer.substr(0, eol));
        buffer.erase(0, eol + 1);
        std::string context_id, digest;
        line >> context_id >> digest;
        acknowledged[context_id] = digest;
        if (++lines_this_round >= kill_after && !killed) {
          kill(child, SIGKILL);
          killed = true;
        }
      }
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(killed) << "child exited early with status " << status;
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_TRUE(buffer.empty()) << "a partial line reached the parent";
  }

  std::string error;
  auto harness = BrokerHarness::Create(dir, *token, nullptr, {}, &error);
  ASSERT_NE(harness, nullptr) << error;
  const auto caller = BrokerHarness::CallerOf("acme", policy::kRoleDecrypt);
  ASSERT_GE(acknowledged.size(), 445u);
  for (const auto& [context_id, digest] : acknowledged) {
    auto decrypted =
        harness->broker().Decrypt(caller, {context_id, harness->Authz("acme", context_id)});
    ASSERT_TRUE(decrypted) << context_id << ": " << decrypted.error().message;
    EXPECT_EQ(Digest(decrypted->plaintext_key.expose()), digest) << context_id;
  }
  // Every released key has its generate event in the audit trail.
  std::set<std::string> audited;
  for (std::uint64_t after = 0;;) {
    auto page = harness->audit_log().Query("acme", after, 1000);
    ASSERT_TRUE(page);
    if (page->empty()) break;
    for (const auto& e : *page) {
      if (e.operation == audit::Operation::kGenerate && e.decision == audit::Decision::kAllow) {
        audited.insert(e.context_id);
      }
      after = e.seq;
    }
  }
  for (const auto& [context_id, digest] : acknowledged) {
    EXPECT_TRUE(audited.contains(context_id)) << context_id;
  }
}

}  // namespace
}  // namespace kmsd::testing
