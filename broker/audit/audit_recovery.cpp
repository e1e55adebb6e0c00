// AuditLog start-up: read the chain, rebuild the index, remove a torn tail.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "broker/audit/audit_files.h"
#include "broker/audit/audit_log.h"
#include "broker/audit/file_io.h"

namespace kmsd::audit {
namespace {

Error Unavailable(std::string message) {
  return MakeError(ErrorCode::kAuditUnavailable, std::move(message));
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
  const auto path = options_.dir / "audit.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Unavailable("audit lock file cannot be opened: " + path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved_errno = errno;
    ::close(fd);
    if (saved_errno == EWOULDBLOCK) {
      return MakeError(ErrorCode::kConflict,
                       "audit directory " + options_.dir.string() +
                           " is in use by another kmsd process (it holds audit.lock)");
    }
    return Unavailable("audit lock file cannot be locked: " + path.string());
  }
  lock_fd_ = fd;
  return {};
}

Status AuditLog::Recover() {
  const auto files = ListAuditFiles(options_.dir);
  recovery_.files = files.size();

  Digest chain = kGenesisDigest;
  std::uint64_t seq = 0;
  std::uint64_t tail_good_end = 0;
  std::uint64_t tail_first_bad_line = 0;
  std::string last_content;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const bool last = i + 1 == files.size();
    auto content = ReadWholeFile(files[i].path);
    if (!content)
      return Unavailable("audit file cannot be read: " + AuditFileName(files[i].number));
    const std::string name = AuditFileName(files[i].number);
    std::size_t pos = 0;
    std::uint64_t line_no = 0;
    std::uint64_t good_end = 0;
    std::vector<std::uint64_t> pending_bad;  // bad lines not (yet) followed by a good one
    while (pos < content->size()) {
      const std::size_t nl = content->find('\n', pos);
      ++line_no;
      if (nl == std::string::npos) {  // a partial last line
        pending_bad.push_back(line_no);
        break;
      }
      const std::string_view text(content->data() + pos, nl - pos);
      auto parsed = ParseLine(text);
      if (!parsed) {
        pending_bad.push_back(line_no);
        pos = nl + 1;
        continue;
      }
      for (const auto bad : pending_bad) {
        recovery_.problems.push_back(name + ":" + std::to_string(bad) + " bad_line");
      }
      pending_bad.clear();
      if (parsed->prev != chain) {
        recovery_.problems.push_back(name + ":" + std::to_string(line_no) + " chain_break");
      }
      if (parsed->type == LineType::kEvent) {
        const AuditEvent& e = parsed->event;
        if (e.seq != seq + 1) {
          recovery_.problems.push_back(name + ":" + std::to_string(line_no) + " seq_mismatch");
        }
        seq = e.seq;
        ++recovery_.events;
        ++unanchored_events_;
        index_[e.tenant].push_back(
            {e.seq, pos, files[i].number, static_cast<std::uint32_t>(text.size())});
      }
      if (parsed->type == LineType::kCheckpoint) {
        unanchored_events_ = 0;
        lines_since_checkpoint_ = 0;
      } else {
        ++lines_since_checkpoint_;
      }
      chain = parsed->hash;
      pos = nl + 1;
      good_end = pos;
    }
    if (!pending_bad.empty()) {
      if (last) {
        tail_first_bad_line = pending_bad.front();
      } else {
        for (const auto bad : pending_bad) {
          recovery_.problems.push_back(name + ":" + std::to_string(bad) + " bad_line");
        }
      }
    }
    if (last) {
      tail_good_end = good_end;
      last_content = std::move(*content);
    }
  }
  for (const auto& problem : recovery_.problems) {
    spdlog::error("audit start-up: {}", problem);
  }
  last_hash_ = chain;
  last_seq_ = seq;
  recovery_.last_seq = seq;
  durable_seq_.store(seq, std::memory_order_release);
  // The index was filled in file order, which is seq order within each tenant.

  if (files.empty()) {
    if (!OpenNewFile(1)) return Unavailable("audit file cannot be created");
  } else {
    const AuditFile& last = files.back();
    const std::string name = AuditFileName(last.number);
    const int fd = ::open(last.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return Unavailable("audit file cannot be opened: " + name);
    fd_ = fd;
    file_number_ = last.number;
    if (tail_good_end < last_content.size()) {
      // A crash left bytes after the last complete line: keep a copy for
      // forensics, then cut them off so the chain continues from the last
      // good line.
      recovery_.torn_tail = true;
      recovery_.torn_bytes = last_content.size() - tail_good_end;
      recovery_.torn_saved_as = options_.dir / ("torn-" + std::to_string(last.number) + "-" +
                                                std::to_string(tail_good_end) + ".bin");
      const int copy =
          ::open(recovery_.torn_saved_as.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      const bool saved = copy >= 0 &&
                         WriteAll(copy, std::string_view(last_content).substr(tail_good_end)) &&
                         ::fsync(copy) == 0;
      if (copy >= 0) ::close(copy);
      if (!saved) return Unavailable("torn audit tail cannot be saved: " + name);
      if (::ftruncate(fd_, static_cast<off_t>(tail_good_end)) != 0 || ::fsync(fd_) != 0) {
        return Unavailable("torn audit tail cannot be truncated: " + name);
      }
      spdlog::warn("audit start-up: torn tail in {} from line {} ({} bytes) moved to {}", name,
                   tail_first_bad_line, recovery_.torn_bytes,
                   recovery_.torn_saved_as.filename().string());
    }
    file_size_ = tail_good_end;
    if (recovery_.torn_tail &&
        !WriteNotice("torn_tail_removed", "file=" + name +
                                              " line=" + std::to_string(tail_first_bad_line) +
                                              " bytes=" + std::to_string(recovery_.torn_bytes))) {
      return Unavailable("audit file cannot be written: " + name);
    }
    if (file_size_ >= options_.max_file_bytes && !OpenNewFile(file_number_ + 1)) {
      return Unavailable("audit file cannot be created");
    }
  }
  if (lines_since_checkpoint_ > 0) first_unanchored_at_ = std::chrono::steady_clock::now();
  return {};
}

}  // namespace kmsd::audit
