// SIGKILL in the middle of a stream of appends: every acknowledged event is
// in the chain after restart, and the chain verifies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "broker/audit/audit_log.h"
#include "broker/audit/chain.h"
#include "broker/audit/verify.h"
#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;

// Child: appends from 4 threads forever, writing each acknowledged seq to
// the pipe (8-byte writes are atomic on a pipe).
[[noreturn]] void AppendForever(const std::filesystem::path& dir, int ack_fd, int round) {
  auto options = TestOptions(dir);
  options.checkpoint_every = 50;
  options.max_file_bytes = 64 * 1024;  // rotations happen during the stream too
  auto log = AuditLog::Open(options, std::make_shared<SoftwareP256Signer>());
  if (!log) ::_exit(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        auto seq = (*log)->Append(MakeEvent("tenant-" + std::to_string(t), round * 1000000 + i));
        if (!seq) continue;
        const std::uint64_t value = *seq;
        if (::write(ack_fd, &value, sizeof(value)) != sizeof(value)) ::_exit(4);
      }
    });
  }
  for (auto& th : threads) th.join();
  ::_exit(5);
}

// Forks the child, waits for min_acks acknowledgements, kills it with
// SIGKILL and returns every seq it acknowledged.
std::vector<std::uint64_t> RunAndKill(const std::filesystem::path& dir, int round,
                                      std::size_t min_acks) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  EXPECT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    AppendForever(dir, fds[1], round);
  }
  ::close(fds[1]);
  std::vector<std::uint64_t> acks;
  std::uint64_t value = 0;
  while (acks.size() < min_acks && ::read(fds[0], &value, sizeof(value)) == sizeof(value)) {
    acks.push_back(value);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  while (::read(fds[0], &value, sizeof(value)) == sizeof(value)) acks.push_back(value);
  ::close(fds[0]);
  return acks;
}

TEST(AuditCrashTest, EveryAcknowledgedEventSurvivesSigkill) {
  TempDir dir;
  std::vector<std::uint64_t> acks = RunAndKill(dir.path(), 0, 400);
  ASSERT_GE(acks.size(), 400u);
  // Second round: restart on the crashed log, append, crash again.
  const auto more = RunAndKill(dir.path(), 1, 400);
  ASSERT_GE(more.size(), 400u);
  acks.insert(acks.end(), more.begin(), more.end());

  // Restart once more in this process; a clean close anchors the tail.
  auto signer = std::make_shared<SoftwareP256Signer>();
  {
    auto log = AuditLog::Open(TestOptions(dir.path()), signer);
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->WaitUntilIndexed(std::chrono::seconds(30)));
    EXPECT_TRUE((*log)->recovery().problems.empty());
    ASSERT_TRUE((*log)->Append(MakeEvent("tenant-0", 9)));
  }
  // Each run signed with its own key: verify the chain without signatures
  // by reading it line by line, and the final run's checkpoint with its key.
  std::set<std::uint64_t> in_chain;
  Digest prev = kGenesisDigest;
  std::uint64_t last_seq = 0;
  for (const auto& file : FilesOf(dir.path())) {
    for (const auto& text : SplitLines(ReadFile(file))) {
      auto line = ParseLine(text);
      ASSERT_TRUE(line) << file;
      ASSERT_EQ(line->prev, prev) << file;
      prev = line->hash;
      if (line->type == LineType::kEvent) {
        ASSERT_EQ(line->event.seq, last_seq + 1);
        last_seq = line->event.seq;
        in_chain.insert(last_seq);
      }
    }
  }
  for (const auto seq : acks) EXPECT_TRUE(in_chain.count(seq)) << "acknowledged seq " << seq;
  EXPECT_EQ(std::set<std::uint64_t>(acks.begin(), acks.end()).size(), acks.size());
}

TEST(AuditCrashTest, CrashedLogVerifiesWithOneSigner) {
  // Same crash, one signing key across runs (as with the token's key), so the
  // verifier itself checks the whole chain and its checkpoints.
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto signer = std::make_shared<SoftwareP256Signer>();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto options = TestOptions(dir.path());
    options.checkpoint_every = 25;
    auto log = AuditLog::Open(options, signer);
    if (!log) ::_exit(3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          auto seq = (*log)->Append(MakeEvent("tenant-" + std::to_string(t), i));
          if (seq && ::write(fds[1], &*seq, sizeof(std::uint64_t)) != sizeof(std::uint64_t)) {
            ::_exit(4);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    ::_exit(5);
  }
  ::close(fds[1]);
  std::vector<std::uint64_t> acks;
  std::uint64_t value = 0;
  while (acks.size() < 300 && ::read(fds[0], &value, sizeof(value)) == sizeof(value)) {
    acks.push_back(value);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  while (::read(fds[0], &value, sizeof(value)) == sizeof(value)) acks.push_back(value);
  ::close(fds[0]);

  std::uint64_t max_ack = 0;
  for (const auto seq : acks) max_ack = std::max(max_ack, seq);
  {
    auto log = AuditLog::Open(TestOptions(dir.path()), signer);
    ASSERT_TRUE(log);
    EXPECT_GE((*log)->last_seq(), max_ack);
    ASSERT_TRUE((*log)->WaitUntilIndexed(std::chrono::seconds(30)));
    for (std::size_t t = 0; t < 4; ++t) {
      auto events = (*log)->Query("tenant-" + std::to_string(t), 0, kMaxQueryLimit);
      ASSERT_TRUE(events);
      for (const auto& e : *events) EXPECT_EQ(e.tenant, "tenant-" + std::to_string(t));
    }
  }
  const auto r = VerifyAuditFiles(FilesOf(dir.path()), signer->PublicKeyDer());
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_GE(r.last_seq, max_ack);
}

}  // namespace
}  // namespace kmsd::audit
