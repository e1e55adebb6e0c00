// AuditLog's read of its history after start-up: every line up to the head
// found by Recover, checked (hash, prev link, seq continuity) and indexed for
// Query, on its own thread so that start-up does not grow with the log.
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/audit/audit_files.h"
#include "broker/audit/audit_log.h"
#include "broker/audit/file_io.h"

namespace kmsd::audit {

void AuditLog::IndexHistory() {
  const auto started = std::chrono::steady_clock::now();
  std::size_t files = 0;
  std::unordered_map<std::string, std::vector<IndexEntry>> history;
  std::vector<std::string> problems;
  std::uint64_t events = 0;
  Digest chain = kGenesisDigest;
  std::uint64_t seq = 0;
  for (const auto& file : ListAuditFiles(options_.dir)) {
    if (history_end_.file == 0 || file.number > history_end_.file) break;
    if (stop_indexing_.load(std::memory_order_acquire)) return StopHistoryRead();
    const std::string name = AuditFileName(file.number);
    ++files;
    auto content = ReadWholeFile(file.path);
    if (!content) {
      problems.push_back(name + " unreadable");
      continue;
    }
    // Of the newest file, only what Recover found: later lines were appended
    // since, and are indexed as they are written.
    if (file.number == history_end_.file && content->size() > history_end_.offset) {
      content->resize(history_end_.offset);
    }
    std::size_t pos = 0;
    std::uint64_t line_no = 0;
    std::vector<std::uint64_t> pending_bad;  // bad lines not (yet) followed by a good one
    while (pos < content->size()) {
      if ((line_no & 0xFFF) == 0 && stop_indexing_.load(std::memory_order_acquire)) {
        return StopHistoryRead();
      }
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
        problems.push_back(name + ":" + std::to_string(bad) + " bad_line");
      }
      pending_bad.clear();
      if (parsed->prev != chain) {
        problems.push_back(name + ":" + std::to_string(line_no) + " chain_break");
      }
      if (parsed->type == LineType::kEvent) {
        const AuditEvent& e = parsed->event;
        if (e.seq != seq + 1) {
          problems.push_back(name + ":" + std::to_string(line_no) + " seq_mismatch");
        }
        seq = e.seq;
        ++events;
        history[e.tenant].push_back(
            {e.seq, pos, file.number, static_cast<std::uint32_t>(text.size())});
      }
      chain = parsed->hash;
      pos = nl + 1;
    }
    for (const auto bad : pending_bad) {
      problems.push_back(name + ":" + std::to_string(bad) + " bad_line");
    }
  }
  for (const auto& problem : problems) spdlog::error("audit history: {}", problem);
  spdlog::info("audit history read: {} events in {} files, {} problems, {} ms", events, files,
               problems.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count());
  {
    // The history comes before everything indexed since start-up, in seq
    // order within each tenant.
    std::unique_lock l(index_mu_);
    for (auto& [tenant, entries] : history) {
      auto& current = index_[tenant];
      entries.insert(entries.end(), current.begin(), current.end());
      current.swap(entries);
    }
  }
  {
    std::lock_guard l(recovery_mu_);
    recovery_.events = events;
    recovery_.problems = std::move(problems);
    indexed_ = true;
  }
  indexed_cv_.notify_all();
}

void AuditLog::StopHistoryRead() {
  {
    std::lock_guard l(recovery_mu_);
    history_stopped_ = true;
  }
  indexed_cv_.notify_all();
}

bool AuditLog::WaitUntilIndexed(std::chrono::milliseconds timeout) const {
  std::unique_lock l(recovery_mu_);
  indexed_cv_.wait_for(l, timeout, [&] { return indexed_ || history_stopped_; });
  return indexed_;
}

RecoveryReport AuditLog::recovery() const {
  std::lock_guard l(recovery_mu_);
  return recovery_;
}

}  // namespace kmsd::audit
