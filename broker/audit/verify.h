// Offline verification of audit files (kmsctl audit verify FILE...).
//
// Reads the files in the order given (pass them in chain order, e.g. from
// ListAuditFiles), checks every line's own hash, the chain of `prev` links,
// seq continuity and every checkpoint signature against the given public key.
// Stops at the first problem and names its file and 1-based line.
//
// Only a checkpoint proves the chain up to it: someone who can rewrite the
// files can recompute every hash, but cannot sign. Events after the last valid
// checkpoint are "unanchored": expected for a live log (between checkpoints)
// or after a crash, and indistinguishable from a log whose tail was cut at a
// line boundary. The report says how many there are; kmsctl treats a short
// tail as a warning and one longer than a checkpoint interval as a failure
// (VerifyOptions::max_unanchored_events).
//
// Thread-safe; no state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kmsd::audit {

enum class ProblemKind {
  kUnreadable,         // the file cannot be opened or read
  kBadPublicKey,       // the key given is not an EC P-256 SPKI (no file named)
  kTornLine,           // the last line of a file has no '\n' (cut mid-line)
  kMalformed,          // not a valid line (JSON, fields, values)
  kHashMismatch,       // the line's content does not hash to its `hash` (edited field)
  kNonCanonical,       // content hashes right but bytes differ from the canonical encoding
  kChainBreak,         // `prev` is not the previous line's hash (deleted/swapped/inserted line)
  kSeqMismatch,        // event seq not previous+1, or a checkpoint/notice seq not the last seq
  kBadSignature,       // checkpoint signature invalid (e.g. rewritten chain) or from another key
  kMissingStart,       // the first line does not start the chain (prev is not all zeros)
  kUnanchoredTooLong,  // more events after the last checkpoint than a live log can have
};

std::string_view ProblemKindName(ProblemKind kind) noexcept;

struct FileLine {
  std::string file;        // as given
  std::uint64_t line = 0;  // 1-based
};

struct VerifyProblem {
  ProblemKind kind;
  std::string file;        // as given (empty for kBadPublicKey)
  std::uint64_t line = 0;  // 1-based; 0 when the problem is the file as a whole
};

struct VerifyReport {
  enum class Status {
    kOk,              // chain intact, every event anchored by a valid checkpoint
    kUnanchoredTail,  // chain intact, but events after the last valid checkpoint
    // No line in any file: nothing proven. A daemon that has recorded nothing
    // yet leaves an empty file, and so does a log emptied to zero bytes.
    kEmpty,
    kFailed,  // `problem` says what and where
  };
  Status status = Status::kOk;
  std::optional<VerifyProblem> problem;
  std::uint64_t lines = 0;  // lines checked before stopping
  std::uint64_t events = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t notices = 0;
  std::uint64_t first_seq = 0;  // of the first event seen, 0 if none
  std::uint64_t last_seq = 0;
  std::uint64_t last_anchored_seq = 0;  // seq of the last valid checkpoint, 0 if none
  std::uint64_t unanchored_events = 0;
  std::optional<FileLine> first_unanchored;  // location of the first unanchored event

  bool ok() const { return status == Status::kOk; }
};

struct VerifyOptions {
  // Accept a first line whose `prev` is not the genesis (files older than the
  // first one given were archived); its `prev` is then trusted.
  bool allow_mid_chain_start = false;
  // A live log signs a checkpoint at least every checkpoint_every_events, so
  // a longer unanchored tail means checkpoints were removed (a rewritten log
  // with its checkpoints dropped) or the signer failed that long: kFailed
  // with kUnanchoredTooLong at the first unanchored event. nullopt: no limit
  // (0: none may be unanchored).
  std::optional<std::uint64_t> max_unanchored_events = std::nullopt;
};

// public_key: SubjectPublicKeyInfo, DER or PEM, of the checkpoint signer.
VerifyReport VerifyAuditFiles(std::span<const std::filesystem::path> files,
                              std::span<const std::uint8_t> public_key, VerifyOptions options = {});

// One line of text for people: "ok: ..." / "unanchored: ..." / "FAILED: file:line kind".
std::string FormatVerifyReport(const VerifyReport& report);

}  // namespace kmsd::audit
