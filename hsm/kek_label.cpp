#include "hsm/kek_label.h"

#include <fmt/format.h>

#include <limits>

namespace kmsd::hsm {
namespace {

bool IsTenantChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status ValidateTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) {
    return MakeError(ErrorCode::kInvalidArgument, "tenant name must be 1..64 characters");
  }
  for (char c : tenant) {
    if (!IsTenantChar(c)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "tenant name has a character outside [A-Za-z0-9._-]");
    }
  }
  if (tenant.front() == '_') {
    return MakeError(ErrorCode::kInvalidArgument, "tenant names starting with '_' are reserved");
  }
  return {};
}

Status ValidateKekId(const KekId& kek) {
  if (auto st = ValidateTenant(kek.tenant); !st) return st;
  if (kek.version == 0) return MakeError(ErrorCode::kInvalidArgument, "KEK version must be >= 1");
  return {};
}

Status ValidateLabelPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kMaxLabelPrefixLength) {
    return MakeError(ErrorCode::kInvalidArgument, "KEK label prefix must be 1..32 characters");
  }
  for (char c : prefix) {
    if (c < 0x21 || c > 0x7e) {
      return MakeError(ErrorCode::kInvalidArgument, "KEK label prefix must be printable ASCII");
    }
  }
  return {};
}

std::string KekLabel(std::string_view prefix, const KekId& kek) {
  return fmt::format("{}{}:v{}", prefix, kek.tenant, kek.version);
}

std::string HealthKekLabel(std::string_view prefix) { return fmt::format("{}_health:v1", prefix); }

std::string AuditSignerLabel(std::string_view prefix) {
  return fmt::format("{}audit-signer", prefix);
}

std::optional<std::uint32_t> ParseKekLabelVersion(std::string_view prefix, std::string_view tenant,
                                                  std::string_view label) {
  if (!label.starts_with(prefix)) return std::nullopt;
  label.remove_prefix(prefix.size());
  if (!label.starts_with(tenant)) return std::nullopt;
  label.remove_prefix(tenant.size());
  if (!label.starts_with(":v")) return std::nullopt;
  label.remove_prefix(2);
  if (label.empty() || label.size() > 10 || label.front() == '0') return std::nullopt;
  std::uint64_t value = 0;
  for (char c : label) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

}  // namespace kmsd::hsm
