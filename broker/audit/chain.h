// The audit log's line format and hash chain (docs/audit.md is the spec).
//
// Every line of an audit file is one JSON object followed by '\n'. Three line
// types share one chain: "event" (an AuditEvent), "checkpoint" (a signature
// over the chain so far) and "notice" (the log's own remarks: torn tail
// removed, sink recovered). Each line carries `prev`, the hash of the line
// before it (64 zero hex digits for the first line ever), and `hash`,
// SHA-256 over the line's canonical encoding without the `hash` member.
//
// The canonical encoding is fixed key order, no whitespace, strings escaped
// only where JSON requires it (\" \\ and \u00xx for bytes below 0x20),
// unsigned decimal numbers, lowercase hex digests. A line is canonical iff
// re-encoding its parsed fields reproduces it byte for byte.
//
// Pure functions: no I/O, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/audit_event.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::audit {

using Digest = std::array<std::uint8_t, 32>;
inline constexpr Digest kGenesisDigest{};  // `prev` of the very first line

enum class LineType { kEvent, kCheckpoint, kNotice };

// A signed anchor: `seq` is the last event's seq, `prev` (the chain hash) is
// the hash of the line just before the checkpoint.
struct Checkpoint {
  std::uint64_t seq = 0;
  Instant time{};
  std::string key_id;
  std::vector<std::uint8_t> signature;  // raw r||s, 64 bytes for P-256
};

// The log's own remark; `seq` is the last event's seq (notices do not count).
struct Notice {
  std::uint64_t seq = 0;
  Instant time{};
  std::string note;    // e.g. "torn_tail_removed", "sink_recovered"
  std::string detail;  // ids and numbers only
};

struct ChainLine {
  LineType type = LineType::kEvent;
  AuditEvent event;       // when type == kEvent
  Checkpoint checkpoint;  // when type == kCheckpoint
  Notice notice;          // when type == kNotice
  Digest prev{};
  Digest hash{};
  bool canonical = true;  // false: fields parse and hash verifies, bytes differ
};

Digest Sha256(std::span<const std::uint8_t> bytes);
Digest Sha256(std::string_view bytes);
std::string ToHex(std::span<const std::uint8_t> bytes);

// Encoders: return the full line including `hash` and the trailing '\n', and
// store the line's hash in *hash.
std::string EncodeEventLine(const AuditEvent& event, const Digest& prev, Digest* hash);
std::string EncodeCheckpointLine(const Checkpoint& cp, const Digest& prev, Digest* hash);
std::string EncodeNoticeLine(const Notice& notice, const Digest& prev, Digest* hash);

enum class LineError {
  kMalformed,     // not JSON, wrong/missing/unknown field, bad value
  kHashMismatch,  // `hash` differs from SHA-256 of the canonical encoding
};

// Parses one line (without its '\n'), checks its own hash. Does not check
// `prev` against anything: that is the reader's job.
boost::system::result<ChainLine, LineError> ParseLine(std::string_view line);

// The bytes a checkpoint signature covers:
// "kmsd-audit-checkpoint-v1" 0x00 || seq (8 bytes big-endian) || chain hash (32 bytes).
std::vector<std::uint8_t> CheckpointMessage(std::uint64_t seq, const Digest& chain_hash);

}  // namespace kmsd::audit
