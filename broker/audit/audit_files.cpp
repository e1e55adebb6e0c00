#include "broker/audit/audit_files.h"

#include <algorithm>
#include <charconv>
#include <system_error>

namespace kmsd::audit {

std::string AuditFileName(std::uint32_t number) {
  std::string digits = std::to_string(number);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return "audit-" + digits + ".jsonl";
}

std::optional<std::uint32_t> ParseAuditFileNumber(const std::string& name) {
  constexpr std::string_view kPrefix = "audit-";
  constexpr std::string_view kSuffix = ".jsonl";
  if (name.size() < kPrefix.size() + 6 + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size() - kSuffix.size();
  std::uint32_t number = 0;
  const auto [end, ec] = std::from_chars(first, last, number);
  if (ec != std::errc() || end != last || number == 0) return std::nullopt;
  if (AuditFileName(number) != name) return std::nullopt;  // one spelling per number
  return number;
}

std::vector<AuditFile> ListAuditFiles(const std::filesystem::path& dir) {
  std::vector<AuditFile> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (const auto number = ParseAuditFileNumber(it->path().filename().string())) {
      files.push_back({*number, it->path()});
    }
  }
  std::sort(files.begin(), files.end(),
            [](const AuditFile& a, const AuditFile& b) { return a.number < b.number; });
  return files;
}

}  // namespace kmsd::audit
