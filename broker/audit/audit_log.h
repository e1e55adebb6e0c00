// AuditLog: the durable, hash-chained, fail-closed audit trail.
//
// Append() returns only once the event's line is on disk (fdatasync). One
// writer thread drains every waiting event, writes them with one write() and
// ONE fdatasync, then completes all waiters (group commit): 16 concurrent
// callers cost about one fsync per batch, not one per event.
//
// Fail closed: when the sink cannot be written (disk full, EIO, read-only or
// immutable file, directory deleted), Append returns kAuditUnavailable, never
// after more than options.append_timeout, and Healthy() turns false. Until the
// next retry (options.retry_interval) further Appends fail at once; so do they
// for retry_interval after an Append timed out (a stuck writer: hung disk or
// token), and Healthy() stays false until the writer is responsive again. The writer
// retries on its own: it truncates the failed file back to its last complete
// line, recreates the directory if it was deleted, starts a new file and
// writes a "sink_recovered" notice; when that is durable the log is healthy
// again and the chain continues from the last durable line: no gap, no half
// line in the chain.
//
// Start-up (Open) reads only the end of the newest file: the chain continues
// from its last complete, hash-valid line, and bytes after that line (a torn
// tail, as left by a crash) are copied to torn-N-OFFSET.bin beside the
// files, truncated away, and a "torn_tail_removed" notice is chained. So
// start-up takes the same time however long the history. The history itself
// (every line's hash, prev link and seq, and the per-tenant query index) is
// then read on a thread of its own; Query waits briefly for it and then
// fails (retry), and recovery() has its events and problems once
// WaitUntilIndexed returns true.
//
// Checkpoints: every options.checkpoint_every events, or options
// checkpoint_interval after the first unanchored event, and at Close(), the
// writer signs (seq, chain hash) through the CheckpointSigner and chains a
// checkpoint line. A failed signature is logged and retried later; it does
// not make the log unhealthy.
//
// Thread-safe: Append, Query, Healthy and stats may be called from any thread.
// The log owns its files and its thread; destruction calls Close().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/audit/audit_event.h"
#include "broker/audit/chain.h"
#include "broker/audit/checkpoint_signer.h"
#include "common/file_lock.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::audit {

inline constexpr std::size_t kMaxQueryLimit = 1000;
// After a crash, start-up reads the newest file whole: files stay below this.
inline constexpr std::uint64_t kMaxAuditFileBytes = 1ull << 30;

struct AuditLogOptions {
  std::filesystem::path dir;  // DIR/audit in the daemon; created (with parents) if missing
  // Rotate once a file reaches this size; at most kMaxAuditFileBytes.
  std::uint64_t max_file_bytes = 64ull << 20;
  std::uint64_t checkpoint_every = 1000;  // events; 0 = only by time and at Close
  std::chrono::milliseconds checkpoint_interval{60'000};
  std::chrono::milliseconds append_timeout{2'000};  // bound of every Append wait
  std::chrono::milliseconds retry_interval{1'000};  // sink re-open attempts while unhealthy
  std::size_t max_queue = 65'536;                   // waiting events; beyond: kAuditUnavailable
  bool forward_to_journald = false;                 // sd_journal_send each durable event
  const Clock* clock = nullptr;                     // for checkpoints/notices; nullptr = system
};

// What start-up found. Problems are "file:line kind" strings (no line content).
// events and problems come from the history read: complete once
// AuditLog::WaitUntilIndexed returned true.
struct RecoveryReport {
  std::size_t files = 0;
  std::uint64_t events = 0;
  std::uint64_t last_seq = 0;
  bool torn_tail = false;
  std::uint64_t torn_bytes = 0;
  std::filesystem::path torn_saved_as;  // empty when nothing was torn
  std::vector<std::string> problems;    // chain breaks / bad lines before the tail
};

// Counters since Open; read with relaxed ordering (monitoring only).
struct AuditStats {
  std::uint64_t events = 0;       // durable events
  std::uint64_t batches = 0;      // group-commit batches written
  std::uint64_t fsyncs = 0;       // fdatasync/fsync calls on audit files and the directory
  std::uint64_t checkpoints = 0;  // signed checkpoints written
  std::uint64_t rotations = 0;
  std::uint64_t failures = 0;    // write/sync failures (each turns the log unhealthy)
  std::uint64_t rejected = 0;    // Appends refused without trying (unhealthy, full queue)
  std::uint64_t timeouts = 0;    // Appends that gave up after append_timeout
  std::uint64_t recoveries = 0;  // successful re-opens after a failure
};

class AuditLog {
 public:
  // Opens (creating if needed) the log in options.dir and starts the writer.
  // signer may be null (no checkpoints; tools and tests only). Fails with
  // kAuditUnavailable when the directory or the last file cannot be opened or
  // read, kInvalidArgument on bad options.
  static Result<std::unique_ptr<AuditLog>> Open(AuditLogOptions options,
                                                std::shared_ptr<CheckpointSigner> signer);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Assigns the next seq, chains and writes the event, returns its seq once
  // durable. kInvalidArgument: ValidateAuditEvent refused it (nothing written).
  // kAuditUnavailable: not durable within append_timeout, or the sink is down,
  // or the log is closed. A timed-out event may still be written later (the
  // caller must treat the operation as failed: over-logging, never
  // under-logging).
  Result<std::uint64_t> Append(AuditEvent event);

  // The tenant's events with seq > after_seq, ascending, at most limit
  // (1..kMaxQueryLimit, else kInvalidArgument). Only durable events are seen.
  // kAuditUnavailable when a file cannot be read, or when the history read
  // after start-up is still going (after a short wait: a query must not hold
  // a worker for long; retry later).
  Result<std::vector<AuditEvent>> Query(const std::string& tenant, std::uint64_t after_seq,
                                        std::size_t limit) const;

  // False while the sink is known to be unwritable, and also after an Append
  // timed out (the writer is stuck, e.g. a hung disk) until the next durable
  // write. For readiness.
  bool Healthy() const noexcept {
    return healthy_.load(std::memory_order_acquire) && !stalled_.load(std::memory_order_acquire);
  }
  AuditStats stats() const noexcept;
  // Events waiting for the writer now (the audit queue depth gauge).
  std::size_t QueueDepth() const;
  RecoveryReport recovery() const;
  // True once the history read after start-up has finished (false on timeout).
  bool WaitUntilIndexed(std::chrono::milliseconds timeout) const;
  std::uint64_t last_seq() const noexcept { return durable_seq_.load(std::memory_order_acquire); }

  // Writes what is queued, a final checkpoint, and stops the writer.
  // Idempotent; later Appends fail with kAuditUnavailable.
  void Close();

 private:
  struct Waiter;
  struct IndexEntry {  // 24 bytes per durable event
    std::uint64_t seq;
    std::uint64_t offset;
    std::uint32_t file;
    std::uint32_t length;  // without '\n'
  };
  struct Counters {
    std::atomic<std::uint64_t> events{0}, batches{0}, fsyncs{0}, checkpoints{0}, rotations{0},
        failures{0}, rejected{0}, timeouts{0}, recoveries{0};
  };

  explicit AuditLog(AuditLogOptions options, std::shared_ptr<CheckpointSigner> signer);
  bool SinkOpen() const noexcept { return healthy_.load(std::memory_order_acquire); }
  Status LockDirectory();  // one writer per directory, across processes
  Status Recover();        // chain head from the newest file, torn-tail removal
  // The last valid line of a file, from its end: sets the head and the
  // checkpoint counters; the offset after it, or nullopt when there is none.
  Result<std::optional<std::uint64_t>> FindHead(const std::filesystem::path& path, bool first_file);
  void IndexHistory();     // the indexer thread: chain check and index up to history_end_
  void StopHistoryRead();  // IndexHistory ends early (Close)
  void WriterLoop();
  void WriteBatch(std::vector<std::shared_ptr<Waiter>>& batch);
  bool WriteDurably(const std::string& bytes);  // write + fdatasync + still linked
  void OnWriteFailure();
  bool TryReopen();
  bool OpenNewFile(std::uint32_t number);
  bool WriteNotice(const std::string& note, const std::string& detail);
  void MaybeCheckpoint(bool closing);
  void MaybeRotate();
  Instant Now() const;

  const AuditLogOptions options_;
  const std::shared_ptr<CheckpointSigner> signer_;

  // Where Recover found the head: the history read stops there.
  struct HistoryEnd {
    std::uint32_t file = 0;  // 0: there was no history
    std::uint64_t offset = 0;
  };
  HistoryEnd history_end_;
  mutable std::mutex recovery_mu_;  // guards recovery_ and indexed_ once the indexer runs
  mutable std::condition_variable indexed_cv_;
  RecoveryReport recovery_;
  bool indexed_ = false;
  bool history_stopped_ = false;  // Close() ended the history read early
  std::atomic<bool> stop_indexing_{false};
  bool checkpoint_due_now_ = false;  // writer thread: the unanchored count is unknown

  // Writer-thread state (also touched by Recover before the thread starts).
  int fd_ = -1;
  std::optional<FileLock> directory_lock_;  // DIR/audit.lock, for the life of the log
  std::uint32_t file_number_ = 0;
  std::uint64_t file_size_ = 0;  // bytes of complete, durable lines
  Digest last_hash_ = kGenesisDigest;
  std::uint64_t last_seq_ = 0;
  std::uint64_t unanchored_events_ = 0;
  std::uint64_t lines_since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point first_unanchored_at_{};
  std::chrono::steady_clock::time_point next_checkpoint_attempt_{};

  mutable std::mutex mu_;  // guards queue_, closing_, recheck_, next_retry_
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Waiter>> queue_;
  bool closing_ = false;
  bool recheck_ = false;  // an Append timed out: the writer should look at the stall
  std::chrono::steady_clock::time_point next_retry_{};
  std::atomic<bool> healthy_{true};   // writer's view: the sink is open and writable
  std::atomic<bool> stalled_{false};  // an Append timed out since the last durable write
  std::atomic<std::uint64_t> durable_seq_{0};

  mutable std::shared_mutex index_mu_;
  std::unordered_map<std::string, std::vector<IndexEntry>> index_;

  mutable Counters counters_;
  std::thread indexer_;
  std::thread writer_;
  std::once_flag close_once_;
};

}  // namespace kmsd::audit
