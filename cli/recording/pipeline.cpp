#include "cli/recording/pipeline.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "cli/recording/fd_io.h"

namespace kmsd::recording::internal {
namespace {

// Start disk writeback of the output every this many bytes (see StartWriteback).
constexpr std::uint64_t kWritebackStep = 16u * 1024 * 1024;

enum class SlotState { kFree, kRead, kBusy, kDone, kFailed };

struct Slot {
  std::vector<std::uint8_t> buf;
  SlotState state = SlotState::kFree;
  std::uint64_t index = 0;
  std::size_t len = 0;     // input length while kRead/kBusy, output length when kDone
  std::size_t in_len = 0;  // input length, kept for progress
  bool last = false;
  Status status;
};

// Writes one transformed chunk and reports progress; shared by both modes.
class OrderedWriter {
 public:
  OrderedWriter(const PipelineIo& io, const ProgressFn& progress)
      : io_(io), progress_(progress), consumed_(io.progress_base) {}

  Status Write(std::span<const std::uint8_t> out, std::size_t in_len) {
    if (auto ok = WriteAll(io_.out_fd, out, io_.out_path); !ok) return ok;
    written_ += out.size();
    if (written_ - flushed_upto_ >= kWritebackStep) {
      StartWriteback(io_.out_fd, io_.out_offset + flushed_upto_, written_ - flushed_upto_);
      flushed_upto_ = written_;
    }
    consumed_ += in_len;
    if (progress_) {
      const std::uint64_t total = io_.progress_total;
      progress_(total != 0 ? std::min(consumed_, total) : consumed_, total);
    }
    return {};
  }

 private:
  const PipelineIo& io_;
  const ProgressFn& progress_;
  std::uint64_t consumed_;
  std::uint64_t written_ = 0;  // bytes written to out_fd by this writer
  std::uint64_t flushed_upto_ = 0;
};

// Shared state; every field but the slot buffers is guarded by `mu`. A slot's
// buffer belongs to whoever moved it into its current state: the reader while
// kFree, a worker while kBusy, the writer while kDone.
class Pipeline {
 public:
  Pipeline(const PipelineIo& io, std::size_t record_size, unsigned slots,
           const TransformFn& transform)
      : io_(io), record_size_(record_size), slots_(slots), transform_(transform) {
    for (auto& slot : slots_) slot.buf.resize(record_size + kTagSize);
  }
  ~Pipeline() {
    // Buffers held plaintext on one side or the other: wipe them all.
    for (auto& slot : slots_) OPENSSL_cleanse(slot.buf.data(), slot.buf.size());
  }

  Status Run(std::vector<ChunkCipher>& ciphers, const ProgressFn& progress) {
    std::vector<std::thread> threads;
    Status started;
    try {
      threads.emplace_back([this] { ReadLoop(); });
      for (auto& cipher : ciphers) threads.emplace_back([this, &cipher] { WorkLoop(cipher); });
    } catch (const std::system_error&) {
      started = MakeError(ErrorCode::kInternal, "recording: cannot start pipeline threads");
      Stop();
    }
    Status result = started ? WriteLoop(progress) : started;
    Stop();
    for (auto& t : threads) t.join();
    return result;
  }

 private:
  Slot& SlotFor(std::uint64_t index) { return slots_[index % slots_.size()]; }

  void Stop() {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }

  void Publish(Slot& slot, std::uint64_t index, std::size_t len, bool last) {
    std::lock_guard lock(mu_);
    slot.index = index;
    slot.len = len;
    slot.in_len = len;
    slot.last = last;
    slot.state = SlotState::kRead;
    if (last) total_chunks_ = index + 1;
    cv_.notify_all();
  }

  void ReadLoop() {
    std::optional<std::pair<std::uint64_t, std::size_t>> pending;  // (index, len), not yet sent
    for (std::uint64_t i = 0;; ++i) {
      Slot& slot = SlotFor(i);
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || slot.state == SlotState::kFree; });
        if (stop_) return;
      }
      auto n = ReadFull(io_.in_fd, std::span(slot.buf.data(), record_size_), io_.in_path);
      if (!n) {
        std::lock_guard lock(mu_);
        read_error_ = n.error();
        cv_.notify_all();
        return;
      }
      if (pending) {
        // Lookahead decided: the pending chunk is last iff nothing followed it.
        Publish(SlotFor(pending->first), pending->first, pending->second, *n == 0);
        if (*n == 0) return;
      }
      if (*n < record_size_) {
        Publish(slot, i, *n, true);
        return;
      }
      pending.emplace(i, *n);
    }
  }

  void WorkLoop(ChunkCipher& cipher) {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] {
        if (stop_ || (total_chunks_ && next_work_ >= *total_chunks_)) return true;
        const Slot& s = SlotFor(next_work_);
        return s.state == SlotState::kRead && s.index == next_work_;
      });
      if (stop_ || (total_chunks_ && next_work_ >= *total_chunks_)) return;
      Slot& slot = SlotFor(next_work_++);
      slot.state = SlotState::kBusy;
      const std::uint64_t index = slot.index;
      const std::size_t len = slot.len;
      const bool last = slot.last;
      lock.unlock();
      auto out = transform_(cipher, index, last, slot.buf, len);
      lock.lock();
      if (out) {
        slot.len = *out;
        slot.state = SlotState::kDone;
      } else {
        slot.status = out.error();
        slot.state = SlotState::kFailed;
      }
      cv_.notify_all();
    }
  }

  Status WriteLoop(const ProgressFn& progress) {
    OrderedWriter writer(io_, progress);
    for (std::uint64_t w = 0;; ++w) {
      Slot& slot = SlotFor(w);
      std::size_t len = 0;
      std::size_t in_len = 0;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] {
          return stop_ || read_error_ || (total_chunks_ && w >= *total_chunks_) ||
                 ((slot.state == SlotState::kDone || slot.state == SlotState::kFailed) &&
                  slot.index == w);
        });
        if (slot.index == w && slot.state == SlotState::kFailed) return slot.status;
        if (slot.index == w && slot.state == SlotState::kDone) {
          len = slot.len;
          in_len = slot.in_len;
        } else if (read_error_) {
          return *read_error_;
        } else if (total_chunks_ && w >= *total_chunks_) {
          return {};
        } else {
          return MakeError(ErrorCode::kInternal, "recording: pipeline stopped");
        }
      }
      if (auto ok = writer.Write(std::span(slot.buf.data(), len), in_len); !ok) return ok;
      std::lock_guard lock(mu_);
      slot.state = SlotState::kFree;
      cv_.notify_all();
    }
  }

  const PipelineIo& io_;
  const std::size_t record_size_;
  std::vector<Slot> slots_;
  const TransformFn& transform_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<Error> read_error_;
  std::optional<std::uint64_t> total_chunks_;
  std::uint64_t next_work_ = 0;
};

}  // namespace

Status RunSequential(const PipelineIo& io, std::size_t record_size, ChunkCipher& cipher,
                     const TransformFn& transform, const ProgressFn& progress) {
  // Two buffers: the chunk being decided and the lookahead read after it.
  std::vector<std::uint8_t> current(record_size + kTagSize), next(record_size + kTagSize);
  const auto wipe = [&] {
    OPENSSL_cleanse(current.data(), current.size());
    OPENSSL_cleanse(next.data(), next.size());
  };
  OrderedWriter writer(io, progress);
  auto n = ReadFull(io.in_fd, std::span(current.data(), record_size), io.in_path);
  for (std::uint64_t index = 0;; ++index) {
    if (!n) {
      wipe();
      return n.error();
    }
    const std::size_t len = *n;
    bool last = len < record_size;
    if (!last) {
      n = ReadFull(io.in_fd, std::span(next.data(), record_size), io.in_path);
      last = n && *n == 0;
    }
    if (!n) continue;  // reported at the top of the loop
    auto out = transform(cipher, index, last, current, len);
    Status written = out ? writer.Write(std::span(current.data(), *out), len) : Status(out.error());
    if (!written || last) {
      wipe();
      return written;
    }
    std::swap(current, next);
  }
}

Status RunPipeline(const PipelineIo& io, std::size_t record_size, unsigned slots,
                   std::vector<ChunkCipher>& ciphers, const TransformFn& transform,
                   const ProgressFn& progress) {
  if (slots < 3 || ciphers.empty()) {
    return MakeError(ErrorCode::kInternal, "recording: pipeline needs 3 slots and a worker");
  }
  Pipeline pipeline(io, record_size, slots, transform);
  return pipeline.Run(ciphers, progress);
}

}  // namespace kmsd::recording::internal
