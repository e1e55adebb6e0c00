// Fail closed: the sink made unwritable by means that stop root too.
//
// Tests run as root, so mode bits do not stop writes. The techniques used:
//  - `chattr +i` (immutable inode: EPERM even for root and even through an
//    already open fd) on the directory and its files;
//  - the directory deleted (writes go to an unlinked inode) and a regular
//    file put at its path so it cannot be recreated;
//  - a 64 KiB tmpfs mounted in a private mount namespace of a forked child
//    and filled up: real ENOSPC, including short writes.
// A technique the machine does not offer (no chattr on this filesystem, no
// CAP_SYS_ADMIN for unshare) skips its test with the reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "broker/audit/audit_log.h"
#include "broker/audit/verify.h"
#include "common/scope_guard.h"
#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

bool WaitHealthy(const AuditLog& log, milliseconds limit) {
  const auto end = SteadyClock::now() + limit;
  while (!log.Healthy() && SteadyClock::now() < end) std::this_thread::sleep_for(milliseconds(10));
  return log.Healthy();
}

int Chattr(const char* flag, const std::filesystem::path& p) {
  const std::string cmd = std::string("chattr ") + flag + " '" + p.string() + "' 2>/dev/null";
  return std::system(cmd.c_str());
}

TEST(AuditFailClosedTest, ImmutableDirectoryFailsClosedAndRecoversOnItsOwn) {
  TempDir dir;
  auto signer = std::make_shared<SoftwareP256Signer>();
  auto log = AuditLog::Open(TestOptions(dir.path()), signer);
  ASSERT_TRUE(log);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE((*log)->Append(MakeEvent("acme", i)));

  const auto file = dir.path() / AuditFileName(1);
  if (Chattr("+i", file) != 0) GTEST_SKIP() << "chattr +i not supported on this filesystem";
  ScopeGuard undo([&] {
    Chattr("-i", dir.path());
    Chattr("-i", file);
  });
  ASSERT_EQ(Chattr("+i", dir.path()), 0);

  const auto start = SteadyClock::now();
  auto refused = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAuditUnavailable);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(1000));
  EXPECT_FALSE((*log)->Healthy());
  // Retries (every 50 ms) keep failing while the directory stays immutable.
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE((*log)->Healthy());
  auto still = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_FALSE(still);
  EXPECT_EQ(still.error().code, ErrorCode::kAuditUnavailable);
  EXPECT_GE((*log)->stats().failures, 2u);

  ASSERT_EQ(Chattr("-i", dir.path()), 0);
  ASSERT_EQ(Chattr("-i", file), 0);
  ASSERT_TRUE(WaitHealthy(**log, milliseconds(3000)));
  auto seq = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 4u);  // no gap: the refused events took no seq
  EXPECT_GE((*log)->stats().recoveries, 1u);
  (*log)->Close();

  const auto r = VerifyAuditFiles(FilesOf(dir.path()), signer->PublicKeyDer());
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.events, 4u);
  EXPECT_GE(r.notices, 1u);  // sink_recovered
}

TEST(AuditFailClosedTest, DeletedDirectoryFailsClosedAndIsRecreated) {
  TempDir root;
  const auto dir = root.path() / "audit";
  auto signer = std::make_shared<SoftwareP256Signer>();
  auto log = AuditLog::Open(TestOptions(dir), signer);
  ASSERT_TRUE(log);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE((*log)->Append(MakeEvent("acme", i)));

  std::filesystem::remove_all(dir);
  WriteFile(dir, "not a directory");  // blocks recreation until removed

  auto refused = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAuditUnavailable);
  EXPECT_FALSE((*log)->Healthy());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE((*log)->Healthy());

  std::filesystem::remove(dir);
  ASSERT_TRUE(WaitHealthy(**log, milliseconds(3000)));
  auto seq = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 4u);
  (*log)->Close();

  // The earlier files are gone: verify says so, and the rest chains.
  const auto files = FilesOf(dir);
  ASSERT_FALSE(files.empty());
  const auto strict = VerifyAuditFiles(files, signer->PublicKeyDer());
  ASSERT_TRUE(strict.problem);
  EXPECT_EQ(strict.problem->kind, ProblemKind::kMissingStart);
  const auto r = VerifyAuditFiles(files, signer->PublicKeyDer(), {.allow_mid_chain_start = true});
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.first_seq, 4u);
}

// What a daemon running as its own user (kmsd.service) meets when an operator
// takes write permission away: the descriptor opened earlier would still
// write, so the log must notice the mode bits itself. Runs the log in a child
// that drops to an unprivileged uid (mode bits do not stop root); the exit
// status names the first step that went wrong.
TEST(AuditFailClosedTest, WritePermissionTakenAwayFailsClosedForAnUnprivilegedDaemon) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another uid";
  TempDir root;
  const auto dir = root.path() / "audit";
  std::filesystem::create_directory(dir);
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(::chown(root.path().c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::chown(dir.c_str(), kNobody, kNobody), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(10);
    auto signer = std::make_shared<SoftwareP256Signer>();
    auto log = AuditLog::Open(TestOptions(dir), signer);
    if (!log) ::_exit(11);
    if (!(*log)->Append(MakeEvent("acme", 1))) ::_exit(12);
    const auto file = dir / AuditFileName(1);
    if (::chmod(file.c_str(), 0440) != 0 || ::chmod(dir.c_str(), 0550) != 0) ::_exit(13);
    auto refused = (*log)->Append(MakeEvent("acme", 2));
    if (refused || refused.error().code != ErrorCode::kAuditUnavailable) ::_exit(14);
    if ((*log)->Healthy()) ::_exit(15);
    if (::chmod(dir.c_str(), 0750) != 0 || ::chmod(file.c_str(), 0640) != 0) ::_exit(16);
    if (!WaitHealthy(**log, milliseconds(3000))) ::_exit(17);
    auto seq = (*log)->Append(MakeEvent("acme", 2));
    if (!seq || *seq != 2u) ::_exit(18);
    (*log)->Close();
    const auto r = VerifyAuditFiles(FilesOf(dir), signer->PublicKeyDer());
    ::_exit(r.status == VerifyReport::Status::kOk && r.events == 2u ? 0 : 19);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
}

// A writer stuck in the checkpoint signer (a hung token) must not make
// Append hang: the wait is bounded by append_timeout.
class SlowSigner final : public CheckpointSigner {
 public:
  Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t> message) override {
    if (!slept_.exchange(true)) std::this_thread::sleep_for(milliseconds(1500));  // first only
    return inner_.Sign(message);
  }
  std::string KeyId() const override { return inner_.KeyId(); }
  SoftwareP256Signer inner_;
  std::atomic<bool> slept_{false};
};

TEST(AuditFailClosedTest, AppendWaitIsBoundedWhenTheWriterIsStuck) {
  TempDir dir;
  auto options = TestOptions(dir.path());
  options.checkpoint_every = 1;
  options.append_timeout = milliseconds(200);
  auto log = AuditLog::Open(options, std::make_shared<SlowSigner>());
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->Append(MakeEvent("acme", 1)));  // durable before the checkpoint starts
  const auto start = SteadyClock::now();
  auto r = (*log)->Append(MakeEvent("acme", 2));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAuditUnavailable);
  EXPECT_LT(SteadyClock::now() - start, milliseconds(1000));
  EXPECT_EQ((*log)->stats().timeouts, 1u);
  // Stuck writer: not ready, and later Appends fail at once instead of queueing.
  EXPECT_FALSE((*log)->Healthy());
  const auto fast = SteadyClock::now();
  auto refused = (*log)->Append(MakeEvent("acme", 3));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAuditUnavailable);
  EXPECT_LT(SteadyClock::now() - fast, milliseconds(100));
  // Once the signer returns, the writer makes the checkpoint and the timed-out
  // event durable (over-logging, never under-logging) and is ready again.
  ASSERT_TRUE(WaitHealthy(**log, milliseconds(5000)));
  auto seq = (*log)->Append(MakeEvent("acme", 4));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 3u);
}

// Runs in a forked child with its own mount namespace; returns 0 on success,
// 77 when the namespace or mount is not permitted, another code per failed check.
int DiskFullScenario(const std::filesystem::path& mnt) {
  if (::unshare(CLONE_NEWNS) != 0) return 77;
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) return 77;
  auto signer = std::make_shared<SoftwareP256Signer>();
  const auto dir = mnt / "audit";
  auto log = AuditLog::Open(TestOptions(dir), signer);
  if (!log) return 10;
  for (int i = 1; i <= 3; ++i) {
    if (!(*log)->Append(MakeEvent("acme", i))) return 11;
  }
  // Fill the filesystem.
  const auto filler = mnt / "filler";
  const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 12;
  const std::string block(4096, 'x');
  while (::write(fd, block.data(), block.size()) > 0) {
  }
  ::close(fd);
  // The current page of the audit file may still take a few lines.
  std::uint64_t acked = 3;
  bool refused = false;
  for (int i = 4; i < 200 && !refused; ++i) {
    auto r = (*log)->Append(MakeEvent("acme", i));
    if (r) {
      acked = *r;
    } else {
      if (r.error().code != ErrorCode::kAuditUnavailable) return 13;
      refused = true;
    }
  }
  if (!refused) return 14;
  if ((*log)->Healthy()) return 15;
  std::this_thread::sleep_for(milliseconds(200));
  if ((*log)->Healthy()) return 16;
  ::unlink(filler.c_str());
  if (!WaitHealthy(**log, milliseconds(3000))) return 17;
  auto seq = (*log)->Append(MakeEvent("acme", 1000));
  if (!seq || *seq != acked + 1) return 18;
  (*log)->Close();
  const auto report = VerifyAuditFiles(FilesOf(dir), signer->PublicKeyDer());
  if (report.status != VerifyReport::Status::kOk) {
    std::fprintf(stderr, "%s\n", FormatVerifyReport(report).c_str());
    return 19;
  }
  if (report.events != acked + 1) return 20;
  ::umount(mnt.c_str());
  return 0;
}

TEST(AuditFailClosedTest, DiskFullFailsClosedAndRecoversWithoutHalfLines) {
  TempDir root;
  const auto mnt = root.path() / "mnt";
  std::filesystem::create_directories(mnt);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(DiskFullScenario(mnt));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no private mount namespace for a tmpfs here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed check code in the child";
}

}  // namespace
}  // namespace kmsd::audit
