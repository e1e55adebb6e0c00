// AuditLog start-up from the end of the newest file, and the history read
// that follows it on its own thread: the index keeps seq order across the
// two, long torn tails are found, and a newest file without one valid line
// continues the chain of the file before it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "broker/audit/audit_files.h"
#include "broker/audit/audit_log.h"
#include "broker/audit/verify.h"
#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;
constexpr auto kIndexWait = std::chrono::seconds(30);

class AuditHistoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> OpenLog(AuditLogOptions options) {
    return OpenLogOrFail(std::move(options), signer_);
  }
  AuditLogOptions SmallFiles() {
    auto options = TestOptions(dir_.path());
    options.max_file_bytes = 4096;  // a few events per file
    return options;
  }
  VerifyReport Verify() { return VerifyAuditFiles(FilesOf(dir_.path()), signer_->PublicKeyDer()); }

  TempDir dir_;
  std::shared_ptr<SoftwareP256Signer> signer_ = std::make_shared<SoftwareP256Signer>();
};

TEST_F(AuditHistoryTest, EventsFromBeforeAndAfterStartUpComeBackInSeqOrder) {
  {
    auto log = OpenLog(SmallFiles());
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  ASSERT_GE(ListAuditFiles(dir_.path()).size(), 3u);
  auto log = OpenLog(SmallFiles());
  // Appended at once: these may be indexed before the history is.
  for (int i = 60; i < 70; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  ASSERT_TRUE(log->WaitUntilIndexed(kIndexWait));
  const auto report = log->recovery();
  EXPECT_EQ(report.events, 60u);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(report.last_seq, 60u);
  auto events = log->Query("acme", 0, kMaxQueryLimit);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 70u);
  for (std::size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, i + 1);
}

TEST_F(AuditHistoryTest, ChainBreakInAnOlderFileIsReportedOnceTheHistoryIsRead) {
  {
    auto log = OpenLog(SmallFiles());
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  const auto files = ListAuditFiles(dir_.path());
  ASSERT_GE(files.size(), 3u);
  // Drop the first line of the second file: its successor no longer links.
  auto lines = SplitLines(ReadFile(files[1].path));
  ASSERT_GE(lines.size(), 2u);
  lines.erase(lines.begin());
  WriteFile(files[1].path, JoinLines(lines));

  auto log = OpenLog(SmallFiles());  // start-up reads the newest file only: not refused
  ASSERT_TRUE(log->WaitUntilIndexed(kIndexWait));
  const auto problems = log->recovery().problems;
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front(), AuditFileName(files[1].number) + ":1 chain_break");
  EXPECT_TRUE(log->Append(MakeEvent("acme", 99)));
}

// Start-up counts the events since the last checkpoint within the window it
// reads; beyond it the count is unknown, and the checkpoint must then come at
// once, not after checkpoint_every more events (a verify with
// max_unanchored_events would fail an honest log otherwise).
TEST_F(AuditHistoryTest, UnanchoredStretchBeyondTheWindowIsAnchoredAtOnceAfterACrash) {
  auto options = TestOptions(dir_.path());
  options.checkpoint_every = 100'000;  // only at Close and by time (60 s)
  {
    auto log = OpenLog(options);
    for (int i = 0; i < 1200; ++i) {  // about 1.5 MiB: more than the first window
      auto event = MakeEvent("acme", i);
      event.reason = std::string(900, 'r');
      ASSERT_TRUE(log->Append(event));
    }
  }
  // Close anchored the tail: drop that checkpoint, as if the process had died.
  const auto file = dir_.path() / AuditFileName(1);
  auto lines = SplitLines(ReadFile(file));
  ASSERT_NE(lines.back().find("\"type\":\"checkpoint\""), std::string::npos);
  lines.pop_back();
  WriteFile(file, JoinLines(lines));

  auto log = OpenLog(options);
  for (int i = 0; i < 1000 && log->stats().checkpoints == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->stats().checkpoints, 1u) << "no checkpoint after start-up";
  log->Close();
  const auto verified = VerifyAuditFiles(FilesOf(dir_.path()), signer_->PublicKeyDer(),
                                         {.max_unanchored_events = 1200});
  EXPECT_EQ(verified.status, VerifyReport::Status::kOk) << FormatVerifyReport(verified);
}

TEST_F(AuditHistoryTest, TornTailLongerThanTheFirstWindowIsFoundAndMovedAside) {
  {
    auto log = OpenLog(TestOptions(dir_.path()));
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  const auto file = dir_.path() / AuditFileName(1);
  std::string garbage;
  while (garbage.size() < (3u << 20)) garbage += std::string(511, 'x') + "\n";
  WriteFile(file, ReadFile(file) + garbage);
  auto log = OpenLog(TestOptions(dir_.path()));
  const auto report = log->recovery();
  EXPECT_TRUE(report.torn_tail);
  EXPECT_EQ(report.torn_bytes, garbage.size());
  EXPECT_EQ(report.last_seq, 5u);
  auto seq = log->Append(MakeEvent("acme", 6));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 6u);
  log->Close();
  const auto verified = Verify();
  EXPECT_EQ(verified.status, VerifyReport::Status::kOk) << FormatVerifyReport(verified);
}

TEST_F(AuditHistoryTest, NewestFileWithoutAValidLineContinuesThePreviousFilesChain) {
  {
    auto log = OpenLog(SmallFiles());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(MakeEvent("acme", i)));
  }
  auto files = ListAuditFiles(dir_.path());
  ASSERT_GE(files.size(), 2u);
  // Power loss right after a rotation: the new file holds only zeros.
  WriteFile(files.back().path, std::string(300, '\0'));
  auto log = OpenLog(SmallFiles());
  const auto report = log->recovery();
  EXPECT_TRUE(report.torn_tail);
  EXPECT_EQ(report.torn_bytes, 300u);
  EXPECT_LT(report.last_seq, 20u);
  auto seq = log->Append(MakeEvent("acme", 20));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, report.last_seq + 1);
  log->Close();
  const auto verified = Verify();
  EXPECT_EQ(verified.status, VerifyReport::Status::kOk) << FormatVerifyReport(verified);
}

}  // namespace
}  // namespace kmsd::audit
