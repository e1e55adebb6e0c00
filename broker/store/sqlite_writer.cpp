#include "broker/store/sqlite_writer.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace kmsd::store::sqlite {

struct GroupCommitWriter::Pending {
  WriteFn fn;
  bool alone = false;
  bool shreds = false;
  // Completion: set by the writer thread, awaited by the caller. One mutex per
  // waiter keeps a batch's wake-ups from contending on one lock.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> result;
};

Status GroupCommitWriter::Enqueue(WriteFn fn, bool alone, bool shreds) {
  // Shared with the writer, so that the writer can wake the caller after
  // releasing the caller's lock: a wake-up under the lock would make the
  // woken caller block on that lock at once and sleep a second time.
  auto p = std::make_shared<Pending>();
  p->fn = std::move(fn);
  p->alone = alone;
  p->shreds = shreds;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(p);
  }
  cv_.notify_one();
  std::unique_lock lock(p->mu);
  p->cv.wait(lock, [&] { return p->result.has_value(); });
  return std::move(*p->result);
}

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Connection> conn, std::size_t max_batch)
    : conn_(std::move(conn)), max_batch_(std::max<std::size_t>(1, max_batch)) {
  thread_ = std::thread([this] { Loop(); });
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status GroupCommitWriter::Run(WriteFn fn, bool shreds) {
  return Enqueue(std::move(fn), /*alone=*/false, shreds);
}

Status GroupCommitWriter::RunAlone(WriteFn fn) {
  return Enqueue(std::move(fn), /*alone=*/true, /*shreds=*/false);
}

WriterStats GroupCommitWriter::stats() const {
  std::lock_guard lock(mu_);
  WriterStats out = stats_;
  out.queued = queue_.size();
  return out;
}

void GroupCommitWriter::Complete(Pending& p, Status s) {
  {
    std::lock_guard lock(p.mu);
    p.result = std::move(s);
  }
  p.cv.notify_one();  // `p` is kept alive by the writer's reference
}

void GroupCommitWriter::Loop() {
  for (;;) {
    std::deque<std::shared_ptr<Pending>> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left to write
      if (queue_.front()->alone) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      } else {
        while (!queue_.empty() && !queue_.front()->alone && batch.size() < max_batch_) {
          batch.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      stats_.in_batch = batch.size();
    }
    std::vector<Status> results;
    if (batch.front()->alone) {
      results.push_back(batch.front()->fn(*conn_));
      if (conn_->InTransaction()) (void)conn_->Exec("ROLLBACK", "rollback");
    } else {
      results = RunBatch(batch);
    }
    {
      // Before any waiter wakes: a caller that sees its result also sees the
      // writer idle (tests rely on this to place writes in batches).
      std::lock_guard lock(mu_);
      stats_.in_batch = 0;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) Complete(*batch[i], std::move(results[i]));
  }
}

std::vector<Status> GroupCommitWriter::RunBatch(const std::deque<std::shared_ptr<Pending>>& batch) {
  std::vector<Status> results(batch.size());
  auto abort = [&](const Error& e) {
    if (conn_->InTransaction()) (void)conn_->Exec("ROLLBACK", "rollback batch");
    if (e.code == ErrorCode::kStoreUnavailable) degraded_.store(true);
    {
      std::lock_guard lock(mu_);
      ++stats_.failed_batches;
    }
    // Nothing of the batch was written: a kConflict seen inside it may have
    // come from a write that is now rolled back, so every caller gets the
    // batch failure and may retry.
    return std::vector<Status>(batch.size(), Status(e));
  };

  if (auto s = conn_->ExecCached("BEGIN IMMEDIATE", "begin"); !s) return abort(s.error());
  bool shreds = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (auto s = conn_->ExecCached("SAVEPOINT w", "savepoint"); !s) return abort(s.error());
    Status s = batch[i]->fn(*conn_);
    if (!s && IsStoreFailure(s.error())) return abort(s.error());
    // An I/O error can make SQLite roll the whole transaction back by itself.
    if (!conn_->InTransaction()) {
      return abort(MakeError(ErrorCode::kStoreUnavailable, "store: transaction rolled back"));
    }
    if (!s) {
      if (auto r = conn_->ExecCached("ROLLBACK TO w", "rollback to savepoint"); !r) {
        return abort(r.error());
      }
    } else {
      shreds = shreds || batch[i]->shreds;
    }
    if (auto r = conn_->ExecCached("RELEASE w", "release savepoint"); !r) return abort(r.error());
    results[i] = std::move(s);
  }
  if (auto s = conn_->CheckNotMoved(); !s) return abort(s.error());
  if (auto s = conn_->ExecCached("COMMIT", "commit"); !s) return abort(s.error());

  degraded_.store(false);
  {
    std::lock_guard lock(mu_);
    ++stats_.commits;
    stats_.writes += batch.size();
    stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
  }
  if (shreds) {
    // secure_delete zeroed the freed bytes in the new page image, but older
    // images of the page (with the wrapped key) are still frames of the WAL.
    // Copy the WAL into the database and truncate it. Best effort: a reader
    // holding an old snapshot makes it return BUSY; the frames are then
    // overwritten as the WAL is reused.
    (void)conn_->Exec("PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint");
  }
  return results;
}

}  // namespace kmsd::store::sqlite
