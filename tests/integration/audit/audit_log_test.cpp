// AuditLog on real files: durability, query isolation, rotation, torn tail,
// group commit, checkpoints.
#include "broker/audit/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "broker/audit/verify.h"
#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> OpenLog(AuditLogOptions options) {
    return OpenLogOrFail(std::move(options), signer_);
  }
  VerifyReport Verify() { return VerifyAuditFiles(FilesOf(dir_.path()), signer_->PublicKeyDer()); }

  TempDir dir_;
  std::shared_ptr<SoftwareP256Signer> signer_ = std::make_shared<SoftwareP256Signer>();
};

TEST_F(AuditLogTest, AppendReturnsSeqOnlyWhenTheLineIsInTheFile) {
  auto log = OpenLog(TestOptions(dir_.path()));
  for (int i = 1; i <= 3; ++i) {
    auto seq = log->Append(MakeEvent("acme", i));
    ASSERT_TRUE(seq);
    EXPECT_EQ(*seq, static_cast<std::uint64_t>(i));
    const auto lines = SplitLines(ReadFile(dir_.path() / AuditFileName(1)));
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(i));
    auto parsed = ParseLine(lines.back());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->event.seq, *seq);
    EXPECT_EQ(parsed->event.request_id, "req-" + std::to_string(i));
  }
  EXPECT_GE(log->stats().fsyncs, 3u);
  EXPECT_EQ(log->last_seq(), 3u);
  EXPECT_TRUE(log->Healthy());
}

// A second writer on one directory would extend the chain from a stale head
// (a second kmsd started by hand next to the service): it must be refused
// before it touches a file, and the first writer's chain must stay intact.
TEST_F(AuditLogTest, SecondWriterOnTheSameDirectoryIsRefusedAndChangesNothing) {
  auto first = OpenLog(TestOptions(dir_.path()));
  ASSERT_TRUE(first->Append(MakeEvent("acme", 1)));
  ASSERT_TRUE(first->Append(MakeEvent("acme", 2)));
  const auto files_before = FilesOf(dir_.path());
  const std::string bytes_before = ReadFile(dir_.path() / AuditFileName(1));

  auto second = AuditLog::Open(TestOptions(dir_.path()), signer_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().message.find("in use by another kmsd process"), std::string::npos);
  EXPECT_EQ(FilesOf(dir_.path()), files_before);
  EXPECT_EQ(ReadFile(dir_.path() / AuditFileName(1)), bytes_before);

  ASSERT_TRUE(first->Append(MakeEvent("acme", 3)));
  first.reset();  // closes (final checkpoint) and releases the lock
  EXPECT_EQ(Verify().status, VerifyReport::Status::kOk);
  auto reopened = OpenLog(TestOptions(dir_.path()));
  ASSERT_NE(reopened, nullptr);
  auto next = reopened->Append(MakeEvent("acme", 4));
  ASSERT_TRUE(next);
  EXPECT_GT(*next, 3u);
}

TEST_F(AuditLogTest, InvalidEventIsRefusedAndConsumesNoSeq) {
  auto log = OpenLog(TestOptions(dir_.path()));
  AuditEvent bad = MakeEvent("acme", 1);
  bad.asset_id = "\xff";
  auto refused = log->Append(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  auto seq = log->Append(MakeEvent("acme", 2));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 1u);
}

TEST_F(AuditLogTest, QueryReturnsOnlyTheTenantsEventsInOrder) {
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    for (int i = 0; i < 40; ++i)
      ASSERT_TRUE(log->Append(MakeEvent(i % 2 ? "tenant-b" : "tenant-a", i)));
    auto a = log->Query("tenant-a", 0, kMaxQueryLimit);
    ASSERT_TRUE(a);
    ASSERT_EQ(a->size(), 20u);
    std::uint64_t prev = 0;
    for (const auto& e : *a) {
      EXPECT_EQ(e.tenant, "tenant-a");
      EXPECT_GT(e.seq, prev);
      prev = e.seq;
    }
    auto page = log->Query("tenant-b", 10, 3);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->size(), 3u);
    for (const auto& e : *page) {
      EXPECT_EQ(e.tenant, "tenant-b");
      EXPECT_GT(e.seq, 10u);
    }
    EXPECT_EQ((*page)[0].seq, 12u);
    auto none = log->Query("tenant-c", 0, 10);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    for (const std::size_t bad_limit : {std::size_t{0}, kMaxQueryLimit + 1}) {
      auto refused = log->Query("tenant-a", 0, bad_limit);
      ASSERT_FALSE(refused);
      EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    }
  }
  // The index is rebuilt from the files at start-up.
  auto reopened = OpenLog(TestOptions(dir_.path()));
  ASSERT_TRUE(reopened->WaitUntilIndexed(std::chrono::seconds(30)));
  auto b = reopened->Query("tenant-b", 0, kMaxQueryLimit);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 20u);
  for (const auto& e : *b) EXPECT_EQ(e.tenant, "tenant-b");
  AuditEvent expected = MakeEvent("tenant-b", 39);
  expected.seq = 40;
  EXPECT_EQ(b->back(), expected);
}

TEST_F(AuditLogTest, RotationKeepsOneChainAcrossFiles) {
  auto options = TestOptions(dir_.path());
  options.max_file_bytes = 4096;
  {
    auto log = OpenLog(options);
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
    EXPECT_GT(log->stats().rotations, 2u);
  }
  const auto files = ListAuditFiles(dir_.path());
  ASSERT_GT(files.size(), 3u);
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].number, i + 1);
    EXPECT_EQ(files[i].path.filename().string(), AuditFileName(static_cast<std::uint32_t>(i + 1)));
  }
  EXPECT_EQ(AuditFileName(1), "audit-000001.jsonl");
  auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.events, 60u);

  // Reopen and continue: still one chain.
  {
    auto log = OpenLog(options);
    for (int i = 60; i < 70; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.last_seq, 70u);

  // A whole file removed from the middle breaks the chain at the next file.
  auto all = FilesOf(dir_.path());
  std::vector<std::filesystem::path> without_second(all);
  without_second.erase(without_second.begin() + 1);
  const auto gap = VerifyAuditFiles(without_second, signer_->PublicKeyDer());
  ASSERT_TRUE(gap.problem);
  EXPECT_EQ(gap.problem->kind, ProblemKind::kChainBreak);
  EXPECT_EQ(gap.problem->file, all[2].string());
  EXPECT_EQ(gap.problem->line, 1u);
}

TEST_F(AuditLogTest, TornLastLineIsMovedAsideAndTheChainContinues) {
  std::string half;
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  // Simulated crash mid-write: half of a would-be next event line.
  const auto file = dir_.path() / AuditFileName(1);
  const std::string before = ReadFile(file);
  AuditEvent next = MakeEvent("acme", 6);
  next.seq = 6;
  Digest ignored{};
  const std::string full = EncodeEventLine(next, kGenesisDigest, &ignored);
  half = full.substr(0, full.size() / 2);
  WriteFile(file, before + half);
  {
    const auto r = Verify();
    ASSERT_TRUE(r.problem);
    EXPECT_EQ(r.problem->kind, ProblemKind::kTornLine);
  }
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    ASSERT_TRUE(log->WaitUntilIndexed(std::chrono::seconds(30)));
    const auto rec = log->recovery();
    EXPECT_TRUE(rec.torn_tail);
    EXPECT_EQ(rec.torn_bytes, half.size());
    EXPECT_EQ(rec.last_seq, 5u);
    EXPECT_TRUE(rec.problems.empty());
    ASSERT_FALSE(rec.torn_saved_as.empty());
    EXPECT_EQ(ReadFile(rec.torn_saved_as), half);
    auto seq = log->Append(MakeEvent("acme", 7));
    ASSERT_TRUE(seq);
    EXPECT_EQ(*seq, 6u);
  }
  const auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.events, 6u);
  EXPECT_EQ(r.notices, 1u);  // torn_tail_removed
  EXPECT_NE(ReadFile(file).find("\"note\":\"torn_tail_removed\""), std::string::npos);
}

TEST_F(AuditLogTest, ZeroFilledTailAfterPowerLossIsTreatedAsTorn) {
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  const auto file = dir_.path() / AuditFileName(1);
  WriteFile(file, ReadFile(file) + std::string(100, '\0') + "\n" + std::string(50, '\0'));
  auto log = OpenLog(TestOptions(dir_.path()));
  EXPECT_TRUE(log->recovery().torn_tail);
  EXPECT_EQ(log->recovery().torn_bytes, 151u);
  ASSERT_TRUE(log->Append(MakeEvent("acme", 4)));
  log->Close();
  EXPECT_EQ(Verify().status, VerifyReport::Status::kOk);
}

TEST_F(AuditLogTest, BadLineBeforeGoodOnesIsReportedNotTruncated) {
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  const auto file = dir_.path() / AuditFileName(1);
  auto lines = SplitLines(ReadFile(file));
  lines[2].replace(lines[2].find("meeting/3"), 9, "meeting/X");
  WriteFile(file, JoinLines(lines));
  const auto size_before = std::filesystem::file_size(file);
  auto log = OpenLog(TestOptions(dir_.path()));
  EXPECT_FALSE(log->recovery().torn_tail);
  ASSERT_TRUE(log->WaitUntilIndexed(std::chrono::seconds(30)));
  ASSERT_FALSE(log->recovery().problems.empty());
  EXPECT_EQ(log->recovery().problems.front(), "audit-000001.jsonl:3 bad_line");
  EXPECT_EQ(std::filesystem::file_size(file), size_before);  // evidence kept
  auto seq = log->Append(MakeEvent("acme", 6));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 6u);
  log->Close();
  const auto r = Verify();
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, ProblemKind::kHashMismatch);
  EXPECT_EQ(r.problem->line, 3u);
}

TEST_F(AuditLogTest, GroupCommitKeepsFsyncsFarBelowEvents) {
  constexpr int kPerThread = 150;
  auto run = [&](int threads) {
    TempDir dir;
    auto options = TestOptions(dir.path());
    options.checkpoint_every = 1000;  // count the fsyncs of events, not of checkpoints
    auto log = OpenLog(options);
    std::atomic<int> failures{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!log->Append(MakeEvent("t" + std::to_string(t), i))) ++failures;
        }
      });
    }
    for (auto& th : pool) th.join();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto s = log->stats();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(s.events, static_cast<std::uint64_t>(threads * kPerThread));
    std::cout << "[ audit ] threads=" << threads << " events=" << s.events
              << " batches=" << s.batches << " fsyncs=" << s.fsyncs
              << " checkpoints=" << s.checkpoints
              << " ms=" << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
              << "\n";
    log->Close();
    EXPECT_EQ(VerifyAuditFiles(FilesOf(dir.path()), signer_->PublicKeyDer()).status,
              VerifyReport::Status::kOk);
    return s;
  };
  const auto one = run(1);
  EXPECT_EQ(one.batches, one.events);  // nothing to group: one fsync per event
  const auto sixteen = run(16);
  // Every batch is one fdatasync; with 16 writers waiting, batches carry many events.
  EXPECT_LT(sixteen.batches * 4, sixteen.events);
  EXPECT_LT(sixteen.fsyncs * 3, sixteen.events);
}

TEST_F(AuditLogTest, CheckpointIsWrittenByTimeWithoutClose) {
  auto options = TestOptions(dir_.path());
  options.checkpoint_every = 0;
  options.checkpoint_interval = std::chrono::milliseconds(100);
  auto log = OpenLog(options);
  ASSERT_TRUE(log->Append(MakeEvent("acme", 1)));
  for (int i = 0; i < 50 && log->stats().checkpoints == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(log->stats().checkpoints, 1u);
  const auto r = Verify();  // read while the log is still open
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
}

class FailingSigner final : public CheckpointSigner {
 public:
  Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t>) override {
    return MakeError(ErrorCode::kHsmUnavailable, "token gone");
  }
  std::string KeyId() const override { return "gone"; }
};

TEST_F(AuditLogTest, SigningFailureLeavesEventsUnanchoredButLogHealthy) {
  {
    auto log = AuditLog::Open(TestOptions(dir_.path()), std::make_shared<FailingSigner>());
    ASSERT_TRUE(log);
    for (int i = 1; i <= 15; ++i) ASSERT_TRUE((*log)->Append(MakeEvent("acme", i)));
    EXPECT_TRUE((*log)->Healthy());
    EXPECT_EQ((*log)->stats().checkpoints, 0u);
  }
  const auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kUnanchoredTail) << FormatVerifyReport(r);
  EXPECT_EQ(r.unanchored_events, 15u);
}

TEST_F(AuditLogTest, AppendAfterCloseFailsClosed) {
  auto log = OpenLog(TestOptions(dir_.path()));
  log->Close();
  auto r = log->Append(MakeEvent("acme", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAuditUnavailable);
}

}  // namespace
}  // namespace kmsd::audit
