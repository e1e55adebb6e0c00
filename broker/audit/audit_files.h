// Names of audit files: audit-NNNNNN.jsonl (at least six digits, numbered
// from 1), so that a lexical sort of same-width names is also the chain order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kmsd::audit {

std::string AuditFileName(std::uint32_t number);
std::optional<std::uint32_t> ParseAuditFileNumber(const std::string& file_name);

struct AuditFile {
  std::uint32_t number = 0;
  std::filesystem::path path;
};

// The audit files in dir, in chain order (by number). Other files (e.g. the
// torn-*.bin copies recovery leaves) are ignored. Empty when dir is missing.
std::vector<AuditFile> ListAuditFiles(const std::filesystem::path& dir);

}  // namespace kmsd::audit
