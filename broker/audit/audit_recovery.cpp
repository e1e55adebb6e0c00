// AuditLog start-up: find the chain's head at the end of the newest file and
// remove a torn tail there; the full read of the history (chain check, query
// index) runs afterwards on its own thread (audit_history.cpp).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "broker/audit/audit_files.h"
#include "broker/audit/audit_log.h"
#include "broker/audit/file_io.h"
#include "common/file_lock.h"

namespace kmsd::audit {
namespace {

Error Unavailable(std::string message) {
  return MakeError(ErrorCode::kAuditUnavailable, std::move(message));
}

// Enough for the lines since the last checkpoint in normal operation
// (checkpoint_every events); a longer stretch is read on demand.
constexpr std::uint64_t kFirstTailWindow = 1 << 20;

// The last `window` bytes of a file, starting at a line start (or the whole
// file when it is no larger).
struct Tail {
  std::string bytes;
  std::uint64_t offset = 0;  // of bytes[0] in the file
  bool whole = false;        // bytes start at offset 0
};

std::optional<Tail> ReadTail(const std::filesystem::path& path, std::uint64_t window) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  Tail tail;
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  tail.whole = file_size <= window;
  // One byte before the window too: it tells whether the window starts a line.
  const std::uint64_t start = tail.whole ? 0 : file_size - window - 1;
  std::string bytes(file_size - start, '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != bytes.size()) return std::nullopt;
  std::size_t first = 0;
  if (!tail.whole) {
    const std::size_t nl = bytes.find('\n');
    first = nl == std::string::npos ? bytes.size() : nl + 1;
  }
  tail.offset = start + first;
  tail.bytes = bytes.substr(first);
  return tail;
}

struct TailLine {
  std::size_t begin;  // in Tail::bytes
  std::size_t end;    // of the text, before its '\n'
};

std::vector<TailLine> CompleteLines(const std::string& bytes) {
  std::vector<TailLine> lines;
  for (std::size_t pos = 0; pos < bytes.size();) {
    const std::size_t nl = bytes.find('\n', pos);
    if (nl == std::string::npos) break;  // a partial last line
    lines.push_back({pos, nl});
    pos = nl + 1;
  }
  return lines;
}

// The seq a line carries: an event's own, or the last event's for a
// checkpoint or notice.
std::uint64_t SeqOf(const ChainLine& line) {
  switch (line.type) {
    case LineType::kEvent: return line.event.seq;
    case LineType::kCheckpoint: return line.checkpoint.seq;
    case LineType::kNotice: return line.notice.seq;
  }
  return 0;
}

}  // namespace

// Two writers would each extend the chain from their own idea of its head
// and break it for good; a second kmsd on the same config (or the same dev
// data dir) must fail before it reads or writes a line. The lock is released
// by the kernel when the process dies, so a crash never leaves it behind.
Status AuditLog::LockDirectory() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) return Unavailable("audit directory cannot be created");
  auto lock =
      FileLock::Acquire((options_.dir / "audit.lock").string(), ErrorCode::kAuditUnavailable);
  if (!lock && lock.error().code == ErrorCode::kConflict) {
    return MakeError(ErrorCode::kConflict,
                     "audit directory " + options_.dir.string() +
                         " is in use by another kmsd process (it holds audit.lock)");
  }
  if (!lock) return lock.error();
  directory_lock_.emplace(std::move(*lock));
  return {};
}

// Looks for the last hash-valid line of `path`, from its end; on success sets
// the chain head (last_hash_, last_seq_) and the checkpoint counters, and
// returns the offset just after that line. nullopt: no valid line in the file.
Result<std::optional<std::uint64_t>> AuditLog::FindHead(const std::filesystem::path& path,
                                                        bool first_file) {
  for (std::uint64_t window = kFirstTailWindow;; window *= 16) {
    auto tail = ReadTail(path, window);
    if (!tail) return Unavailable("audit file cannot be read: " + path.filename().string());
    const auto lines = CompleteLines(tail->bytes);
    std::optional<ChainLine> head;
    std::size_t head_index = 0;
    for (std::size_t i = lines.size(); i-- > 0 && !head;) {
      auto parsed = ParseLine(
          std::string_view(tail->bytes).substr(lines[i].begin, lines[i].end - lines[i].begin));
      if (parsed) {
        head = std::move(*parsed);
        head_index = i;
      }
    }
    if (!head) {
      if (tail->whole) return std::optional<std::uint64_t>{};
      continue;  // a long run of bad lines: look further back
    }
    last_hash_ = head->hash;
    last_seq_ = SeqOf(*head);
    // Lines since the last checkpoint, counted back from the head. When the
    // window holds no checkpoint and is not the whole history, the count is
    // unknown: a checkpoint is then due at once, never later than it would
    // have been.
    unanchored_events_ = 0;
    lines_since_checkpoint_ = 0;
    bool anchored = false;
    for (std::size_t i = head_index + 1; i-- > 0;) {
      auto parsed = ParseLine(
          std::string_view(tail->bytes).substr(lines[i].begin, lines[i].end - lines[i].begin));
      if (!parsed) continue;
      if (parsed->type == LineType::kCheckpoint) {
        anchored = true;
        break;
      }
      ++lines_since_checkpoint_;
      if (parsed->type == LineType::kEvent) ++unanchored_events_;
    }
    checkpoint_due_now_ = !anchored && !(tail->whole && first_file);
    return std::optional<std::uint64_t>(tail->offset + lines[head_index].end + 1);
  }
}

Status AuditLog::Recover() {
  const auto files = ListAuditFiles(options_.dir);
  recovery_.files = files.size();
  if (files.empty()) {
    if (!OpenNewFile(1)) return Unavailable("audit file cannot be created");
    history_end_ = {0, 0};
    indexed_ = true;  // no history to read
    return {};
  }

  // The head: the last valid line of the newest file that has one.
  const AuditFile& last = files.back();
  auto last_good_end = FindHead(last.path, files.size() == 1);
  if (!last_good_end) return last_good_end.error();
  const std::uint64_t good_end = last_good_end->value_or(0);
  if (!*last_good_end) {
    for (std::size_t i = files.size() - 1; i-- > 0;) {
      auto found = FindHead(files[i].path, i == 0);
      if (!found) return found.error();
      if (*found) break;
    }
  }
  recovery_.last_seq = last_seq_;
  durable_seq_.store(last_seq_, std::memory_order_release);
  history_end_ = {last.number, good_end};

  const std::string name = AuditFileName(last.number);
  const int fd = ::open(last.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Unavailable("audit file cannot be opened: " + name);
  fd_ = fd;
  file_number_ = last.number;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Unavailable("audit file cannot be read: " + name);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (good_end < size) {
    // A crash left bytes after the last complete line: keep a copy for
    // forensics, then cut them off so the chain continues from the last
    // good line. Rare, so the whole file is read here for the line number.
    auto content = ReadWholeFile(last.path);
    if (!content || content->size() != size) {
      return Unavailable("audit file cannot be read: " + name);
    }
    const std::uint64_t first_bad_line =
        1 + static_cast<std::uint64_t>(std::count(
                content->begin(), content->begin() + static_cast<std::ptrdiff_t>(good_end), '\n'));
    recovery_.torn_tail = true;
    recovery_.torn_bytes = size - good_end;
    recovery_.torn_saved_as = options_.dir / ("torn-" + std::to_string(last.number) + "-" +
                                              std::to_string(good_end) + ".bin");
    const int copy =
        ::open(recovery_.torn_saved_as.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    const bool saved = copy >= 0 && WriteAll(copy, std::string_view(*content).substr(good_end)) &&
                       ::fsync(copy) == 0;
    if (copy >= 0) ::close(copy);
    if (!saved) return Unavailable("torn audit tail cannot be saved: " + name);
    if (::ftruncate(fd_, static_cast<off_t>(good_end)) != 0 || ::fsync(fd_) != 0) {
      return Unavailable("torn audit tail cannot be truncated: " + name);
    }
    spdlog::warn("audit start-up: torn tail in {} from line {} ({} bytes) moved to {}", name,
                 first_bad_line, recovery_.torn_bytes, recovery_.torn_saved_as.filename().string());
    file_size_ = good_end;
    if (!WriteNotice("torn_tail_removed", "file=" + name +
                                              " line=" + std::to_string(first_bad_line) +
                                              " bytes=" + std::to_string(recovery_.torn_bytes))) {
      return Unavailable("audit file cannot be written: " + name);
    }
  }
  file_size_ = std::max(file_size_, good_end);
  if (file_size_ >= options_.max_file_bytes && !OpenNewFile(file_number_ + 1)) {
    return Unavailable("audit file cannot be created");
  }
  if (lines_since_checkpoint_ > 0) first_unanchored_at_ = std::chrono::steady_clock::now();
  return {};
}

}  // namespace kmsd::audit
