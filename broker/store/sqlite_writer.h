// GroupCommitWriter: the single writer of the SQLite record store.
//
// SQLite allows one writer at a time and a durable commit costs an fsync, so
// every write of the store goes through one thread that owns the write
// connection. Callers enqueue a write and block; the thread takes everything
// waiting (up to max_batch), runs it in ONE transaction with ONE commit (one
// fsync), then wakes every caller with its own result. While a commit syncs,
// new writes queue up and form the next batch, so throughput grows with the
// number of concurrent callers instead of being one fsync per write.
//
// Each write of a batch runs inside its own SAVEPOINT: a write that fails for
// its own reason (duplicate id, not found, ...) is rolled back alone and the
// others commit. A store failure (kStoreUnavailable from any write, or any
// failure of BEGIN, SAVEPOINT or COMMIT) rolls back the whole batch and every
// caller of it gets that error: nothing of the batch is written, and each
// caller may retry.
//
// Thread-safe. The destructor finishes every queued write, then joins.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "broker/store/sqlite_connection.h"
#include "broker/store/write_stats.h"
#include "common/result.h"

namespace kmsd::store::sqlite {

// A write run on the writer connection. Inside a batch it must not BEGIN or
// COMMIT; a write run alone (RunAlone) manages its own transactions.
using WriteFn = std::function<Status(Connection&)>;

class GroupCommitWriter {
 public:
  GroupCommitWriter(std::unique_ptr<Connection> conn, std::size_t max_batch);
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;
  ~GroupCommitWriter();

  // Runs `fn` in the next batch and returns its result once the batch has
  // committed (durable) or failed. `shreds`: the write removes key material,
  // so after the commit the writer checkpoints and truncates the WAL (best
  // effort) to drop the old page images that still hold it.
  Status Run(WriteFn fn, bool shreds = false);

  // Runs `fn` alone, between batches (bulk loads that commit in chunks).
  Status RunAlone(WriteFn fn);

  WriterStats stats() const;

  // True after a batch failed with a store failure and before the next
  // batch commits.
  bool degraded() const noexcept { return degraded_.load(); }

 private:
  struct Pending;
  Status Enqueue(WriteFn fn, bool alone, bool shreds);  // queues and waits for the result
  void Loop();
  // Runs one batch transaction; returns each write's result, in order.
  std::vector<Status> RunBatch(const std::deque<std::shared_ptr<Pending>>& batch);
  void Complete(Pending& p, Status s);

  std::unique_ptr<Connection> conn_;
  const std::size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stop_ = false;
  WriterStats stats_;
  std::atomic<bool> degraded_{false};
  std::thread thread_;  // last: started after every member above exists
};

}  // namespace kmsd::store::sqlite
