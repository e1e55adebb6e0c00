// Helpers shared by the audit tests: a temp dir per test, events, file edits.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "broker/audit/audit_files.h"
#include "broker/audit/audit_log.h"
#include "tests/integration/audit/test_signer.h"

namespace kmsd::audit::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kmsd-audit-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline AuditEvent MakeEvent(const std::string& tenant, int i) {
  AuditEvent e;
  e.time = FromUnixMicros(1'780'000'000'000'000 + i);
  e.tenant = tenant;
  e.principal = "svc-" + std::to_string(i % 3);
  e.operation = i % 2 == 0 ? Operation::kGenerate : Operation::kDecrypt;
  e.context_id = "0190c1d2-0000-7000-8000-" + std::to_string(100000000000 + i);
  e.asset_type = "recording";
  e.asset_id = "meeting/" + std::to_string(i);
  e.decision = i % 5 == 4 ? Decision::kDeny : Decision::kAllow;
  if (e.decision == Decision::kDeny) {
    e.rule = "office-hours";
    e.error = ErrorCode::kPolicyDenied;
  }
  e.policy_version = 3;
  e.request_id = "req-" + std::to_string(i);
  return e;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::vector<std::string> SplitLines(const std::string& content) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < content.size()) {
    const auto nl = content.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(content.substr(pos));
      break;
    }
    lines.push_back(content.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

inline std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

inline std::vector<std::filesystem::path> FilesOf(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& f : ListAuditFiles(dir)) out.push_back(f.path);
  return out;
}

// Opens a log for a test; a failed Open fails the test and gives null.
inline std::unique_ptr<AuditLog> OpenLogOrFail(AuditLogOptions options,
                                               std::shared_ptr<CheckpointSigner> signer) {
  auto log = AuditLog::Open(std::move(options), std::move(signer));
  EXPECT_TRUE(log) << (log ? "" : log.error().message);
  return log ? std::move(*log) : nullptr;
}

inline AuditLogOptions TestOptions(const std::filesystem::path& dir) {
  AuditLogOptions o;
  o.dir = dir;
  o.checkpoint_every = 10;
  o.checkpoint_interval = std::chrono::milliseconds(60'000);
  o.append_timeout = std::chrono::milliseconds(2'000);
  o.retry_interval = std::chrono::milliseconds(50);
  return o;
}

}  // namespace kmsd::audit::testing
