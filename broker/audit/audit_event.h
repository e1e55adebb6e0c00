// An audit event: who did what to which key, what was decided, and how it ended.
//
// The struct has no field that could carry key material, a PIN or a token: the
// broker can only record ids, names and codes. Every string field is bounded
// (kMaxAuditFieldBytes) and must be valid UTF-8; ValidateAuditEvent says so
// before the log accepts an event.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/time.h"

namespace kmsd::audit {

enum class Operation {
  kGenerate,             // a data key was generated (and released) for a new record
  kDecrypt,              // a data key release for an existing record (allowed or denied)
  kDestroyRecord,        // crypto-shredding of one record
  kRotateKek,            // a new KEK version became current
  kDestroyKek,           // a KEK version was destroyed
  kRewrap,               // records moved from an old KEK version to the current one
  kPolicyChange,         // a tenant policy document was replaced
  kAuthnFailure,         // one refused identity
  kAuthnFailureSummary,  // rate-limited summary of a flood of refused identities
  kXksHealth,            // AWS XKS GetHealthStatus (tenant "xks:<key store>")
  kXksMetadata,          // AWS XKS GetKeyMetadata (context_id = keyId)
  kXksEncrypt,           // AWS XKS Encrypt (asset_type = kmsOperation, asset_id = kmsKeyArn)
  kXksDecrypt,           // AWS XKS Decrypt
};

enum class Decision { kAllow, kDeny };

std::string_view OperationName(Operation op) noexcept;
std::optional<Operation> ParseOperation(std::string_view name) noexcept;
std::string_view DecisionName(Decision d) noexcept;
std::optional<Decision> ParseDecision(std::string_view name) noexcept;
// The inverse of kmsd::ErrorCodeName.
std::optional<ErrorCode> ParseErrorCodeName(std::string_view name) noexcept;

inline constexpr std::size_t kMaxAuditFieldBytes = 1024;

struct AuditEvent {
  std::uint64_t seq = 0;  // assigned by AuditLog::Append; ignored on input
  Instant time{};         // when the request was decided (the broker's clock)
  std::string tenant;     // empty only for authn failures (no identity)
  std::string principal;  // the authenticated subject, never its token
  Operation operation = Operation::kDecrypt;
  std::string context_id;  // empty when the operation has none (e.g. rotate_kek)
  std::string asset_type;
  std::string asset_id;
  Decision decision = Decision::kDeny;
  std::string rule;                  // deciding policy rule id; empty when none
  std::uint64_t policy_version = 0;  // 0 when no policy was consulted
  std::string request_id;
  std::optional<ErrorCode> error;  // nullopt = outcome "ok"
  std::string reason;              // optional free text built from ids/codes; empty = none

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

// "ok" or the ErrorCodeName of event.error.
std::string_view OutcomeName(const AuditEvent& event) noexcept;

// kInvalidArgument when a string field is too long or not valid UTF-8, when
// request_id is empty, or tenant is empty (allowed only for authn_failure*).
// The message names the field, never its bytes.
Status ValidateAuditEvent(const AuditEvent& event);

bool IsValidUtf8(std::string_view text) noexcept;

}  // namespace kmsd::audit
