// Token labels of kmsd's keys, and tenant-name validation. Pure code.
//
// A KEK's label is <prefix><tenant>:v<version>, e.g. "kmsd:acme:v3". Tenant
// names are restricted to [A-Za-z0-9._-]{1,64} (no ':'), so one label names
// exactly one (tenant, version); a leading '_' is reserved for internal keys
// (the health probe "<prefix>_health:v1").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "hsm/key_service.h"

namespace kmsd::hsm {

inline constexpr std::size_t kMaxTenantLength = 64;
// PKCS#11 labels are bytes; keep ours short enough for any token.
inline constexpr std::size_t kMaxLabelPrefixLength = 32;

// Errors: kInvalidArgument naming which rule failed (never echoing the name).
Status ValidateTenant(std::string_view tenant);
// KEK ids must have a valid tenant and version >= 1.
Status ValidateKekId(const KekId& kek);
// A prefix is 1..32 printable ASCII characters.
Status ValidateLabelPrefix(std::string_view prefix);

std::string KekLabel(std::string_view prefix, const KekId& kek);
std::string HealthKekLabel(std::string_view prefix);
std::string AuditSignerLabel(std::string_view prefix);

// The version of `label` if it is a KEK label of `tenant` under `prefix`
// ("<prefix><tenant>:v<N>" with N a decimal without leading zeros, 1..2^32-1).
std::optional<std::uint32_t> ParseKekLabelVersion(std::string_view prefix, std::string_view tenant,
                                                  std::string_view label);

}  // namespace kmsd::hsm
