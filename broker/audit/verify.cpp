#include "broker/audit/verify.h"

#include <fstream>
#include <iterator>

#include "broker/audit/chain.h"
#include "broker/audit/checkpoint_signer.h"

namespace kmsd::audit {

std::string_view ProblemKindName(ProblemKind kind) noexcept {
  switch (kind) {
    case ProblemKind::kUnreadable: return "unreadable";
    case ProblemKind::kBadPublicKey: return "bad_public_key";
    case ProblemKind::kTornLine: return "torn_line";
    case ProblemKind::kMalformed: return "malformed";
    case ProblemKind::kHashMismatch: return "hash_mismatch";
    case ProblemKind::kNonCanonical: return "non_canonical";
    case ProblemKind::kChainBreak: return "chain_break";
    case ProblemKind::kSeqMismatch: return "seq_mismatch";
    case ProblemKind::kBadSignature: return "bad_signature";
    case ProblemKind::kMissingStart: return "missing_start";
    case ProblemKind::kUnanchoredTooLong: return "unanchored_too_long";
  }
  return "unknown";
}

VerifyReport VerifyAuditFiles(std::span<const std::filesystem::path> files,
                              std::span<const std::uint8_t> public_key, VerifyOptions options) {
  VerifyReport report;
  auto fail = [&report](ProblemKind kind, const std::string& file, std::uint64_t line) {
    report.status = VerifyReport::Status::kFailed;
    report.problem = VerifyProblem{kind, file, line};
    return report;
  };
  auto key = LoadCheckpointPublicKey(public_key);
  if (!key) return fail(ProblemKind::kBadPublicKey, "", 0);

  bool first_line = true;
  Digest chain = kGenesisDigest;
  std::uint64_t seq = 0;
  for (const auto& path : files) {
    const std::string file = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(ProblemKind::kUnreadable, file, 0);
    const std::string content((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (in.bad()) return fail(ProblemKind::kUnreadable, file, 0);
    std::size_t pos = 0;
    std::uint64_t line_no = 0;
    while (pos < content.size()) {
      ++line_no;
      const std::size_t nl = content.find('\n', pos);
      if (nl == std::string::npos) return fail(ProblemKind::kTornLine, file, line_no);
      const std::string_view text(content.data() + pos, nl - pos);
      pos = nl + 1;
      auto line = ParseLine(text);
      if (!line) {
        return fail(line.error() == LineError::kHashMismatch ? ProblemKind::kHashMismatch
                                                             : ProblemKind::kMalformed,
                    file, line_no);
      }
      if (!line->canonical) return fail(ProblemKind::kNonCanonical, file, line_no);
      if (first_line) {
        first_line = false;
        if (line->prev != kGenesisDigest) {
          if (!options.allow_mid_chain_start)
            return fail(ProblemKind::kMissingStart, file, line_no);
          chain = line->prev;
          switch (line->type) {
            case LineType::kEvent: seq = line->event.seq - 1; break;
            case LineType::kCheckpoint: seq = line->checkpoint.seq; break;
            case LineType::kNotice: seq = line->notice.seq; break;
          }
        }
      }
      if (line->prev != chain) return fail(ProblemKind::kChainBreak, file, line_no);
      ++report.lines;
      switch (line->type) {
        case LineType::kEvent:
          if (line->event.seq != seq + 1) return fail(ProblemKind::kSeqMismatch, file, line_no);
          seq = line->event.seq;
          if (report.events++ == 0) report.first_seq = seq;
          if (report.unanchored_events++ == 0) {
            report.first_unanchored = FileLine{file, line_no};
          }
          break;
        case LineType::kCheckpoint:
          if (line->checkpoint.seq != seq) return fail(ProblemKind::kSeqMismatch, file, line_no);
          if (!VerifyCheckpointSignature(key->get(), CheckpointMessage(seq, line->prev),
                                         line->checkpoint.signature)) {
            return fail(ProblemKind::kBadSignature, file, line_no);
          }
          // The limit holds between checkpoints too: a rewritten stretch
          // with its checkpoints dropped stays too long even after a
          // restarted daemon signed a checkpoint over it.
          if (options.max_unanchored_events &&
              report.unanchored_events > *options.max_unanchored_events) {
            return fail(ProblemKind::kUnanchoredTooLong, report.first_unanchored->file,
                        report.first_unanchored->line);
          }
          ++report.checkpoints;
          report.last_anchored_seq = seq;
          report.unanchored_events = 0;
          report.first_unanchored.reset();
          break;
        case LineType::kNotice:
          if (line->notice.seq != seq) return fail(ProblemKind::kSeqMismatch, file, line_no);
          ++report.notices;
          break;
      }
      chain = line->hash;
    }
  }
  // Never "ok": a log emptied to zero bytes looks like this too. Not a failure
  // either: a daemon that has recorded nothing yet leaves an empty file.
  if (first_line) {
    report.status = VerifyReport::Status::kEmpty;
    return report;
  }
  report.last_seq = seq;
  if (options.max_unanchored_events && report.unanchored_events > *options.max_unanchored_events) {
    const FileLine at = *report.first_unanchored;
    return fail(ProblemKind::kUnanchoredTooLong, at.file, at.line);
  }
  report.status = report.unanchored_events > 0 ? VerifyReport::Status::kUnanchoredTail
                                               : VerifyReport::Status::kOk;
  return report;
}

std::string FormatVerifyReport(const VerifyReport& r) {
  const std::string counts = std::to_string(r.events) + " events, " +
                             std::to_string(r.checkpoints) + " checkpoints, last seq " +
                             std::to_string(r.last_seq);
  switch (r.status) {
    case VerifyReport::Status::kOk: return "ok: " + counts + ", all anchored";
    case VerifyReport::Status::kUnanchoredTail:
      return "unanchored: " + counts + "; " + std::to_string(r.unanchored_events) +
             " events after the last signed checkpoint (seq " +
             std::to_string(r.last_anchored_seq) + "), first at " + r.first_unanchored->file + ":" +
             std::to_string(r.first_unanchored->line) +
             " (live log, crash, or tail cut at a line boundary)";
    case VerifyReport::Status::kEmpty:
      return "empty: no line in the files given, nothing proven (a log that has recorded "
             "nothing yet, or one emptied)";
    case VerifyReport::Status::kFailed: break;
  }
  const auto& p = *r.problem;
  return "FAILED: " + (p.file.empty() ? std::string("-") : p.file) + ":" + std::to_string(p.line) +
         " " + std::string(ProblemKindName(p.kind));
}

}  // namespace kmsd::audit
