#include "broker/audit/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

#include "broker/audit/audit_files.h"
#include "broker/audit/file_io.h"
#include "broker/audit/journald.h"

namespace kmsd::audit {
namespace {

using SteadyClock = std::chrono::steady_clock;

Error Unavailable(std::string message) {
  return MakeError(ErrorCode::kAuditUnavailable, std::move(message));
}

}  // namespace

struct AuditLog::Waiter {
  AuditEvent event;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::optional<Result<std::uint64_t>> result;

  void Complete(Result<std::uint64_t> r) {
    {
      std::lock_guard l(m);
      result = std::move(r);
      done = true;
    }
    cv.notify_one();
  }
};

AuditLog::AuditLog(AuditLogOptions options, std::shared_ptr<CheckpointSigner> signer)
    : options_(std::move(options)), signer_(std::move(signer)) {}

AuditLog::~AuditLog() { Close(); }

Result<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options,
                                                 std::shared_ptr<CheckpointSigner> signer) {
  if (options.dir.empty() || options.max_file_bytes < 4096 ||
      options.max_file_bytes > kMaxAuditFileBytes || options.max_queue == 0 ||
      options.append_timeout.count() <= 0 || options.retry_interval.count() <= 0) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid audit log options");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), std::move(signer)));
  if (auto s = log->LockDirectory(); !s) return s.error();
  if (auto s = log->Recover(); !s) return s.error();
  log->indexer_ = std::thread(&AuditLog::IndexHistory, log.get());
  log->writer_ = std::thread(&AuditLog::WriterLoop, log.get());
  return log;
}

std::size_t AuditLog::QueueDepth() const {
  std::lock_guard l(mu_);
  return queue_.size();
}

Instant AuditLog::Now() const {
  static const SystemClock kSystem;
  return (options_.clock != nullptr ? options_.clock : &kSystem)->Now();
}

bool AuditLog::WriteDurably(const std::string& bytes) {
  if (fd_ < 0) return false;
  // A descriptor opened earlier keeps writing after the sink was made
  // read-only (chmod, chattr +i, remount): ask for write permission on the
  // directory and the file with every batch, so the log fails closed then.
  if (::access(options_.dir.c_str(), W_OK) != 0 ||
      ::access((options_.dir / AuditFileName(file_number_)).c_str(), W_OK) != 0) {
    return false;
  }
  if (!WriteAll(fd_, bytes)) return false;
  if (::fdatasync(fd_) != 0) return false;
  counters_.fsyncs.fetch_add(1, std::memory_order_relaxed);
  // Written into a file whose directory entry is gone (directory deleted):
  // durable nowhere an auditor will look, so this counts as a failure.
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || st.st_nlink == 0) return false;
  stalled_.store(false, std::memory_order_release);
  return true;
}

void AuditLog::OnWriteFailure() {
  const int saved_errno = errno;
  counters_.failures.fetch_add(1, std::memory_order_relaxed);
  if (fd_ >= 0) {
    // Cut back to the last durable line so that no half line stays in the
    // chain; a new file is started on recovery either way.
    (void)::ftruncate(fd_, static_cast<off_t>(file_size_));
    ::close(fd_);
    fd_ = -1;
    if (file_size_ == 0) {
      // Nothing durable in it: remove it, and reuse its number next time.
      (void)::unlink((options_.dir / AuditFileName(file_number_)).c_str());
      if (file_number_ > 1) --file_number_;
    }
  }
  // Log the transition once; retries while down log at debug level only.
  const bool was_healthy = healthy_.exchange(false, std::memory_order_acq_rel);
  {
    std::lock_guard l(mu_);
    next_retry_ = SteadyClock::now() + options_.retry_interval;
  }
  if (was_healthy) {
    spdlog::error("audit sink unavailable (file {}, errno {}); failing closed",
                  AuditFileName(file_number_), saved_errno);
  } else {
    spdlog::debug("audit sink still unavailable (errno {})", saved_errno);
  }
}

bool AuditLog::OpenNewFile(std::uint32_t number) {
  const auto path = options_.dir / AuditFileName(number);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  // The new name must survive a crash before any event is acknowledged in it.
  if (!FsyncDir(options_.dir)) {
    ::close(fd);
    (void)::unlink(path.c_str());
    return false;
  }
  counters_.fsyncs.fetch_add(1, std::memory_order_relaxed);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  file_number_ = number;
  file_size_ = 0;
  return true;
}

bool AuditLog::WriteNotice(const std::string& note, const std::string& detail) {
  Digest hash{};
  const std::string line = EncodeNoticeLine({last_seq_, Now(), note, detail}, last_hash_, &hash);
  if (!WriteDurably(line)) {
    OnWriteFailure();
    return false;
  }
  if (lines_since_checkpoint_++ == 0) first_unanchored_at_ = SteadyClock::now();
  last_hash_ = hash;
  file_size_ += line.size();
  return true;
}

bool AuditLog::TryReopen() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  // A deleted directory is recreated: the chain continues (from memory) in
  // a new file; verify then reports the missing earlier files.
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  std::uint32_t number = file_number_;
  for (const auto& f : ListAuditFiles(options_.dir)) number = std::max(number, f.number);
  if (ec || !OpenNewFile(number + 1)) {
    OnWriteFailure();
    return false;
  }
  if (!WriteNotice("sink_recovered", "file=" + AuditFileName(file_number_))) return false;
  healthy_.store(true, std::memory_order_release);
  counters_.recoveries.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("audit sink writable again; continuing in {}", AuditFileName(file_number_));
  return true;
}

Result<std::uint64_t> AuditLog::Append(AuditEvent event) {
  if (auto s = ValidateAuditEvent(event); !s) return s.error();
  auto waiter = std::make_shared<Waiter>();
  waiter->event = std::move(event);
  {
    std::lock_guard l(mu_);
    if (closing_) return Unavailable("audit log closed");
    if ((stalled_.load(std::memory_order_acquire) || !SinkOpen()) &&
        SteadyClock::now() < next_retry_) {
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      return Unavailable("audit sink unavailable");
    }
    if (queue_.size() >= options_.max_queue) {
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      return Unavailable("audit queue full");
    }
    queue_.push_back(waiter);
  }
  cv_.notify_one();
  std::unique_lock wl(waiter->m);
  if (!waiter->cv.wait_for(wl, options_.append_timeout, [&] { return waiter->done; })) {
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    wl.unlock();
    std::lock_guard l(mu_);
    stalled_.store(true, std::memory_order_release);
    next_retry_ = SteadyClock::now() + options_.retry_interval;
    recheck_ = true;  // a responsive (merely unlucky) writer clears the stall at once
    cv_.notify_one();
    return Unavailable("audit append timed out");
  }
  return std::move(*waiter->result);
}

void AuditLog::WriterLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Waiter>> batch;
    bool closing = false;
    {
      std::unique_lock l(mu_);
      auto wake = SteadyClock::now() + std::chrono::hours(1);
      if (!SinkOpen()) {
        wake = next_retry_;
      } else if (signer_ && lines_since_checkpoint_ > 0) {
        wake = std::min(wake, std::max(checkpoint_due_now_
                                           ? SteadyClock::now()
                                           : first_unanchored_at_ + options_.checkpoint_interval,
                                       next_checkpoint_attempt_));
      }
      if (stalled_.load(std::memory_order_acquire)) wake = std::min(wake, next_retry_);
      cv_.wait_until(l, wake, [&] { return closing_ || recheck_ || !queue_.empty(); });
      recheck_ = false;
      // A batch stops where a checkpoint is due, so that no stretch between
      // checkpoints exceeds checkpoint_every (verify holds logs to it); the
      // rest waits for the next turn, after the checkpoint.
      std::size_t take = queue_.size();
      if (signer_ && options_.checkpoint_every > 0 &&
          unanchored_events_ < options_.checkpoint_every) {
        take = std::min<std::size_t>(take, options_.checkpoint_every - unanchored_events_);
      }
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
      closing = closing_;
    }
    // Running here means the writer is not stuck; with nothing to write, a
    // stall flagged by a timed-out Append is over (a write clears it too).
    if (batch.empty() && SinkOpen()) stalled_.store(false, std::memory_order_release);
    if (!SinkOpen()) {
      bool due = false;
      {
        std::lock_guard l(mu_);
        due = SteadyClock::now() >= next_retry_;
      }
      if (due) TryReopen();
      if (!SinkOpen()) {
        for (auto& w : batch) w->Complete(Unavailable("audit sink unavailable"));
        if (closing) break;
        continue;
      }
    }
    if (!batch.empty()) WriteBatch(batch);
    if (SinkOpen()) MaybeCheckpoint(closing);
    if (SinkOpen()) MaybeRotate();
    if (closing) break;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void AuditLog::WriteBatch(std::vector<std::shared_ptr<Waiter>>& batch) {
  std::string bytes;
  Digest hash = last_hash_;
  std::uint64_t seq = last_seq_;
  std::vector<IndexEntry> entries;
  entries.reserve(batch.size());
  for (auto& w : batch) {
    w->event.seq = ++seq;
    const std::string line = EncodeEventLine(w->event, hash, &hash);
    entries.push_back({seq, file_size_ + bytes.size(), file_number_,
                       static_cast<std::uint32_t>(line.size() - 1)});
    bytes += line;
  }
  if (!WriteDurably(bytes)) {
    OnWriteFailure();  // the chain state did not move: the next line follows the last durable one
    for (auto& w : batch) w->Complete(Unavailable("audit sink unavailable"));
    return;
  }
  last_hash_ = hash;
  last_seq_ = seq;
  file_size_ += bytes.size();
  if (lines_since_checkpoint_ == 0) first_unanchored_at_ = SteadyClock::now();
  lines_since_checkpoint_ += batch.size();
  unanchored_events_ += batch.size();
  {
    std::unique_lock l(index_mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      index_[batch[i]->event.tenant].push_back(entries[i]);
    }
  }
  durable_seq_.store(seq, std::memory_order_release);
  counters_.events.fetch_add(batch.size(), std::memory_order_relaxed);
  counters_.batches.fetch_add(1, std::memory_order_relaxed);
  for (auto& w : batch) w->Complete(w->event.seq);
  if (options_.forward_to_journald) {
    for (const auto& w : batch) ForwardToJournald(w->event);
  }
}

void AuditLog::MaybeCheckpoint(bool closing) {
  if (!signer_ || lines_since_checkpoint_ == 0) return;
  const auto now = SteadyClock::now();
  const bool due =
      closing || checkpoint_due_now_ ||
      (options_.checkpoint_every > 0 && unanchored_events_ >= options_.checkpoint_every) ||
      now >= first_unanchored_at_ + options_.checkpoint_interval;
  if (!due || (!closing && now < next_checkpoint_attempt_)) return;
  auto signature = signer_->Sign(CheckpointMessage(last_seq_, last_hash_));
  if (!signature) {
    spdlog::warn("audit checkpoint at seq {} not signed ({}); retrying later", last_seq_,
                 ErrorCodeName(signature.error().code));
    next_checkpoint_attempt_ = now + options_.retry_interval;
    return;
  }
  Digest hash{};
  const std::string line = EncodeCheckpointLine(
      {last_seq_, Now(), signer_->KeyId(), std::move(*signature)}, last_hash_, &hash);
  if (!WriteDurably(line)) {
    OnWriteFailure();
    return;
  }
  last_hash_ = hash;
  file_size_ += line.size();
  unanchored_events_ = 0;
  lines_since_checkpoint_ = 0;
  checkpoint_due_now_ = false;
  counters_.checkpoints.fetch_add(1, std::memory_order_relaxed);
}

void AuditLog::MaybeRotate() {
  if (file_size_ < options_.max_file_bytes) return;
  if (!OpenNewFile(file_number_ + 1)) {
    OnWriteFailure();
    return;
  }
  counters_.rotations.fetch_add(1, std::memory_order_relaxed);
}

Result<std::vector<AuditEvent>> AuditLog::Query(const std::string& tenant, std::uint64_t after_seq,
                                                std::size_t limit) const {
  if (limit == 0 || limit > kMaxQueryLimit) {
    return MakeError(ErrorCode::kInvalidArgument, "audit query limit out of range");
  }
  // Short: while a long history is read, queries must fail fast rather
  // than hold the request workers.
  if (!WaitUntilIndexed(std::chrono::milliseconds(100))) {
    std::lock_guard l(recovery_mu_);
    if (history_stopped_) return Unavailable("audit log closed");
    return Unavailable("audit history is still being read after start-up; retry");
  }
  std::vector<IndexEntry> picks;
  {
    std::shared_lock l(index_mu_);
    const auto it = index_.find(tenant);
    if (it == index_.end()) return std::vector<AuditEvent>{};
    const auto& entries = it->second;
    auto first =
        std::upper_bound(entries.begin(), entries.end(), after_seq,
                         [](std::uint64_t seq, const IndexEntry& e) { return seq < e.seq; });
    for (; first != entries.end() && picks.size() < limit; ++first) picks.push_back(*first);
  }
  std::vector<AuditEvent> events;
  events.reserve(picks.size());
  int fd = -1;
  std::uint32_t open_file = 0;
  std::string buf;
  for (const auto& e : picks) {
    if (fd < 0 || open_file != e.file) {
      if (fd >= 0) ::close(fd);
      fd = ::open((options_.dir / AuditFileName(e.file)).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Unavailable("audit file cannot be read: " + AuditFileName(e.file));
      open_file = e.file;
    }
    buf.resize(e.length);
    if (::pread(fd, buf.data(), e.length, static_cast<off_t>(e.offset)) !=
        static_cast<ssize_t>(e.length)) {
      ::close(fd);
      return Unavailable("audit file cannot be read: " + AuditFileName(e.file));
    }
    auto line = ParseLine(buf);
    if (!line || line->type != LineType::kEvent || line->event.seq != e.seq ||
        line->event.tenant != tenant) {
      ::close(fd);
      return MakeError(ErrorCode::kIntegrity,
                       "audit line changed on disk: seq " + std::to_string(e.seq));
    }
    events.push_back(std::move(line->event));
  }
  if (fd >= 0) ::close(fd);
  return events;
}

AuditStats AuditLog::stats() const noexcept {
  constexpr auto r = std::memory_order_relaxed;
  return {counters_.events.load(r),      counters_.batches.load(r),   counters_.fsyncs.load(r),
          counters_.checkpoints.load(r), counters_.rotations.load(r), counters_.failures.load(r),
          counters_.rejected.load(r),    counters_.timeouts.load(r),  counters_.recoveries.load(r)};
}

void AuditLog::Close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard l(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    stop_indexing_.store(true, std::memory_order_release);
    if (indexer_.joinable()) indexer_.join();
  });
}

}  // namespace kmsd::audit
