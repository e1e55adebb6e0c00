// VerifyAuditFiles on a log written by AuditLog, then tampered with.
#include "broker/audit/verify.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <vector>

#include "broker/audit/chain.h"
#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;

// 25 events, checkpoint_every 10, sequential appends, closed cleanly:
// lines 1-10 seq 1-10, 11 checkpoint(10), 12-21 seq 11-20, 22 checkpoint(20),
// 23-27 seq 21-25, 28 checkpoint(25).
class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = AuditLog::Open(TestOptions(dir_.path()), signer_);
    ASSERT_TRUE(log);
    for (int i = 1; i <= 25; ++i) ASSERT_TRUE((*log)->Append(MakeEvent("acme", i)));
    (*log)->Close();
    files_ = FilesOf(dir_.path());
    ASSERT_EQ(files_.size(), 1u);
    lines_ = SplitLines(ReadFile(files_[0]));
    ASSERT_EQ(lines_.size(), 28u);
  }

  VerifyReport Verify(VerifyOptions options = {}) {
    return VerifyAuditFiles(files_, signer_->PublicKeyDer(), options);
  }
  void Rewrite(const std::vector<std::string>& lines) { WriteFile(files_[0], JoinLines(lines)); }
  static void ExpectProblem(const VerifyReport& r, ProblemKind kind, std::uint64_t line) {
    ASSERT_EQ(r.status, VerifyReport::Status::kFailed) << FormatVerifyReport(r);
    ASSERT_TRUE(r.problem);
    EXPECT_EQ(r.problem->kind, kind) << FormatVerifyReport(r);
    EXPECT_EQ(r.problem->line, line) << FormatVerifyReport(r);
  }

  // Re-encodes every line with a recomputed chain, applying edit to events
  // and, when resigner is set, re-signing checkpoints with it: what an
  // attacker who can rewrite the file (but holds no token) can do.
  std::vector<std::string> RecomputeChain(const std::function<void(AuditEvent&)>& edit,
                                          CheckpointSigner* resigner) {
    std::vector<std::string> out;
    Digest prev = kGenesisDigest;
    for (const auto& text : lines_) {
      auto line = ParseLine(text);
      EXPECT_TRUE(line);
      std::string encoded;
      if (line->type == LineType::kEvent) {
        edit(line->event);
        encoded = EncodeEventLine(line->event, prev, &prev);
      } else if (line->type == LineType::kCheckpoint) {
        if (resigner != nullptr) {
          line->checkpoint.signature =
              *resigner->Sign(CheckpointMessage(line->checkpoint.seq, prev));
        }
        encoded = EncodeCheckpointLine(line->checkpoint, prev, &prev);
      } else {
        encoded = EncodeNoticeLine(line->notice, prev, &prev);
      }
      encoded.pop_back();
      out.push_back(encoded);
    }
    return out;
  }

  TempDir dir_;
  std::shared_ptr<SoftwareP256Signer> signer_ = std::make_shared<SoftwareP256Signer>();
  std::vector<std::filesystem::path> files_;
  std::vector<std::string> lines_;
};

TEST_F(VerifyTest, UntouchedLogVerifiesAndIsFullyAnchored) {
  const auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_FALSE(r.problem);
  EXPECT_EQ(r.events, 25u);
  EXPECT_EQ(r.checkpoints, 3u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 25u);
  EXPECT_EQ(r.last_anchored_seq, 25u);
  EXPECT_EQ(r.unanchored_events, 0u);
  EXPECT_TRUE(FormatVerifyReport(r).starts_with("ok:"));
}

TEST_F(VerifyTest, PemPublicKeyWorksToo) {
  const std::string pem = signer_->PublicKeyPem();
  const auto r = VerifyAuditFiles(
      files_, std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
  EXPECT_EQ(r.status, VerifyReport::Status::kOk);
}

TEST_F(VerifyTest, EditedFieldIsNamed) {
  auto lines = lines_;
  const auto at = lines[4].find("meeting/5");
  ASSERT_NE(at, std::string::npos);
  lines[4].replace(at, 9, "meeting/6");
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kHashMismatch, 5);
}

TEST_F(VerifyTest, DeletedLineIsNamed) {
  auto lines = lines_;
  lines.erase(lines.begin() + 4);
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kChainBreak, 5);
}

TEST_F(VerifyTest, SwappedLinesAreNamed) {
  auto lines = lines_;
  std::swap(lines[13], lines[14]);
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kChainBreak, 14);
}

TEST_F(VerifyTest, FileCutMidLineIsNamed) {
  std::string content = JoinLines(lines_);
  std::size_t line15 = 0;
  for (int i = 0; i < 14; ++i) line15 = content.find('\n', line15) + 1;
  WriteFile(files_[0], content.substr(0, line15 + 40));
  ExpectProblem(Verify(), ProblemKind::kTornLine, 15);
}

TEST_F(VerifyTest, TailCutAtLineBoundaryIsReportedUnanchored) {
  auto lines = lines_;
  lines.resize(25);  // drops seq 24, 25 and the final checkpoint
  Rewrite(lines);
  const auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kUnanchoredTail) << FormatVerifyReport(r);
  EXPECT_EQ(r.last_seq, 23u);
  EXPECT_EQ(r.last_anchored_seq, 20u);
  EXPECT_EQ(r.unanchored_events, 3u);
  ASSERT_TRUE(r.first_unanchored);
  EXPECT_EQ(r.first_unanchored->line, 23u);
  EXPECT_TRUE(FormatVerifyReport(r).starts_with("unanchored:"));
}

TEST_F(VerifyTest, RewrittenFileWithRecomputedChainIsCaughtByCheckpoint) {
  const auto forged = RecomputeChain(
      [](AuditEvent& e) {
        if (e.seq == 5) e.principal = "someone-else";
      },
      nullptr);
  Rewrite(forged);
  ExpectProblem(Verify(), ProblemKind::kBadSignature, 11);
}

TEST_F(VerifyTest, RewrittenFileResignedWithAnotherKeyIsCaught) {
  SoftwareP256Signer attacker;
  const auto forged = RecomputeChain(
      [](AuditEvent& e) {
        if (e.seq == 15) e.decision = Decision::kAllow;
      },
      &attacker);
  Rewrite(forged);
  ExpectProblem(Verify(), ProblemKind::kBadSignature, 11);
}

// The attacker rewrites the log with a recomputed chain and drops every
// checkpoint line: nothing is signed, so only the length of the unanchored
// tail gives it away. A live log (checkpoint every 10 events here) never has
// more than 10 unanchored events.
TEST_F(VerifyTest, RewrittenFileWithItsCheckpointsDroppedIsCaughtByTheTailLength) {
  std::vector<std::string> without;
  for (const auto& text : lines_) {
    if (ParseLine(text)->type != LineType::kCheckpoint) without.push_back(text);
  }
  lines_ = without;
  Rewrite(RecomputeChain(
      [](AuditEvent& e) {
        if (e.seq == 5) e.principal = "someone-else";
      },
      nullptr));
  const auto lax = Verify();
  EXPECT_EQ(lax.status, VerifyReport::Status::kUnanchoredTail) << FormatVerifyReport(lax);
  EXPECT_EQ(lax.checkpoints, 0u);
  EXPECT_EQ(lax.unanchored_events, 25u);
  ExpectProblem(Verify({.max_unanchored_events = 10}), ProblemKind::kUnanchoredTooLong, 1);
}

// As above, but only after the first checkpoint, and a restarted daemon then
// signed a checkpoint over the rewritten stretch (it cannot tell a forged
// stretch from one it did not count): the stretch between the two valid
// checkpoints is still longer than a live log ever leaves one.
TEST_F(VerifyTest, RewrittenStretchSignedOverByARestartIsCaughtByItsLength) {
  std::vector<std::string> kept;
  std::optional<ChainLine> first_checkpoint;
  for (const auto& text : lines_) {
    auto line = ParseLine(text);
    if (line->type == LineType::kCheckpoint) {
      if (first_checkpoint) continue;
      first_checkpoint = *line;
    }
    kept.push_back(text);
  }
  ASSERT_TRUE(first_checkpoint);
  lines_ = kept;
  auto rewritten = RecomputeChain(
      [](AuditEvent& e) {
        if (e.seq == 15) e.principal = "someone-else";
      },
      nullptr);
  const Digest head = ParseLine(rewritten.back())->hash;
  Checkpoint signed_over = first_checkpoint->checkpoint;
  signed_over.seq = 25;
  signed_over.signature = *signer_->Sign(CheckpointMessage(25, head));
  Digest ignored{};
  std::string line = EncodeCheckpointLine(signed_over, head, &ignored);
  line.pop_back();
  rewritten.push_back(line);
  Rewrite(rewritten);
  EXPECT_EQ(Verify().status, VerifyReport::Status::kOk) << "no limit: nothing to go by";
  ExpectProblem(Verify({.max_unanchored_events = 10}), ProblemKind::kUnanchoredTooLong, 12);
}

// Under concurrent appends a group-commit batch must stop where a checkpoint
// is due: otherwise a stretch between checkpoints grows by up to a batch and
// an honest log fails the limit of its own checkpoint interval.
TEST(VerifyConcurrentTest, BusyLogKeepsEveryStretchWithinItsCheckpointInterval) {
  TempDir dir;
  auto signer = std::make_shared<SoftwareP256Signer>();
  {
    auto log = AuditLog::Open(TestOptions(dir.path()), signer);  // a checkpoint every 10
    ASSERT_TRUE(log);
    std::vector<std::thread> appenders;
    for (int t = 0; t < 16; ++t) {
      appenders.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) EXPECT_TRUE((*log)->Append(MakeEvent("acme", t * 100 + i)));
      });
    }
    for (auto& a : appenders) a.join();
  }
  const auto r =
      VerifyAuditFiles(FilesOf(dir.path()), signer->PublicKeyDer(), {.max_unanchored_events = 10});
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.events, 640u);
}

TEST_F(VerifyTest, UntouchedLogPassesTheTailLimitOfItsCheckpointInterval) {
  const auto r = Verify({.max_unanchored_events = 10});
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  // A live tail within the limit stays a warning, not a failure.
  lines_.pop_back();  // the closing checkpoint: 5 events unanchored
  Rewrite(lines_);
  EXPECT_EQ(Verify({.max_unanchored_events = 10}).status, VerifyReport::Status::kUnanchoredTail);
  EXPECT_EQ(Verify({.max_unanchored_events = 4}).status, VerifyReport::Status::kFailed);
  EXPECT_EQ(Verify({.max_unanchored_events = 0}).status, VerifyReport::Status::kFailed);
  EXPECT_EQ(Verify().status, VerifyReport::Status::kUnanchoredTail);  // no limit given
}

TEST_F(VerifyTest, RecomputeWithoutEditStillVerifies) {
  // Guards the two tests above: the forgery helper itself is faithful.
  Rewrite(RecomputeChain([](AuditEvent&) {}, nullptr));
  EXPECT_EQ(Verify().status, VerifyReport::Status::kOk);
}

TEST_F(VerifyTest, WrongPublicKeyFailsAtFirstCheckpoint) {
  SoftwareP256Signer other;
  const auto r = VerifyAuditFiles(files_, other.PublicKeyDer());
  ExpectProblem(r, ProblemKind::kBadSignature, 11);
  const std::vector<std::uint8_t> junk(10, 0);
  const auto bad_key = VerifyAuditFiles(files_, junk);
  ASSERT_TRUE(bad_key.problem);
  EXPECT_EQ(bad_key.problem->kind, ProblemKind::kBadPublicKey);
}

TEST_F(VerifyTest, MissingFirstLineIsNamedUnlessMidChainStartAllowed) {
  auto lines = lines_;
  lines.erase(lines.begin());
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kMissingStart, 1);
  const auto r = Verify({.allow_mid_chain_start = true});
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.first_seq, 2u);
}

TEST_F(VerifyTest, NonCanonicalSpacingIsNamed) {
  auto lines = lines_;
  lines[2].insert(1, " ");
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kNonCanonical, 3);
}

TEST_F(VerifyTest, CheckpointWithWrongSeqIsNamed) {
  auto lines = lines_;
  auto line = ParseLine(lines[10]);
  ASSERT_TRUE(line);
  ASSERT_EQ(line->type, LineType::kCheckpoint);
  // Re-sign with the genuine key but claim seq 9: the chain hash binds seq 10.
  line->checkpoint.seq = 9;
  line->checkpoint.signature = *signer_->Sign(CheckpointMessage(9, line->prev));
  Digest h{};
  std::string encoded = EncodeCheckpointLine(line->checkpoint, line->prev, &h);
  encoded.pop_back();
  lines[10] = encoded;
  Rewrite(lines);
  ExpectProblem(Verify(), ProblemKind::kSeqMismatch, 11);
}

// A log emptied to zero bytes used to verify as "ok: 0 events". It is
// "empty", never ok; not a failure, as a fresh daemon's log is empty too.
TEST_F(VerifyTest, EmptiedLogIsReportedEmptyNotOk) {
  WriteFile(files_[0], "");
  const auto r = Verify();
  EXPECT_EQ(r.status, VerifyReport::Status::kEmpty);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.problem.has_value());
  EXPECT_TRUE(FormatVerifyReport(r).starts_with("empty: ")) << FormatVerifyReport(r);
}

TEST_F(VerifyTest, UnreadableFileIsNamed) {
  std::vector<std::filesystem::path> files = {dir_.path() / "no-such-file.jsonl"};
  const auto r = VerifyAuditFiles(files, signer_->PublicKeyDer());
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, ProblemKind::kUnreadable);
}

}  // namespace
}  // namespace kmsd::audit
