#include "broker/audit/audit_event.h"

#include <array>
#include <utility>

namespace kmsd::audit {
namespace {

constexpr std::array<std::pair<Operation, std::string_view>, 13> kOperations{{
    {Operation::kGenerate, "generate"},
    {Operation::kDecrypt, "decrypt"},
    {Operation::kDestroyRecord, "destroy_record"},
    {Operation::kRotateKek, "rotate_kek"},
    {Operation::kDestroyKek, "destroy_kek"},
    {Operation::kRewrap, "rewrap"},
    {Operation::kPolicyChange, "policy_change"},
    {Operation::kAuthnFailure, "authn_failure"},
    {Operation::kAuthnFailureSummary, "authn_failure_summary"},
    {Operation::kXksHealth, "xks_health"},
    {Operation::kXksMetadata, "xks_metadata"},
    {Operation::kXksEncrypt, "xks_encrypt"},
    {Operation::kXksDecrypt, "xks_decrypt"},
}};

}  // namespace

std::string_view OperationName(Operation op) noexcept {
  for (const auto& [value, name] : kOperations) {
    if (value == op) return name;
  }
  return "unknown";
}

std::optional<Operation> ParseOperation(std::string_view name) noexcept {
  for (const auto& [value, known] : kOperations) {
    if (known == name) return value;
  }
  return std::nullopt;
}

std::string_view DecisionName(Decision d) noexcept {
  return d == Decision::kAllow ? "allow" : "deny";
}

std::optional<Decision> ParseDecision(std::string_view name) noexcept {
  if (name == "allow") return Decision::kAllow;
  if (name == "deny") return Decision::kDeny;
  return std::nullopt;
}

std::optional<ErrorCode> ParseErrorCodeName(std::string_view name) noexcept {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

std::string_view OutcomeName(const AuditEvent& event) noexcept {
  return event.error ? ErrorCodeName(*event.error) : std::string_view("ok");
}

bool IsValidUtf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned c = *p;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++p;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, surrogates and code points beyond U+10FFFF are refused.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

Status ValidateAuditEvent(const AuditEvent& event) {
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"tenant", &event.tenant},         {"principal", &event.principal},
      {"context_id", &event.context_id}, {"asset_type", &event.asset_type},
      {"asset_id", &event.asset_id},     {"rule", &event.rule},
      {"request_id", &event.request_id}, {"reason", &event.reason},
  };
  for (const auto& [name, value] : fields) {
    if (value->size() > kMaxAuditFieldBytes) {
      return MakeError(ErrorCode::kInvalidArgument, "audit field too long: " + std::string(name));
    }
    if (!IsValidUtf8(*value)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "audit field not valid UTF-8: " + std::string(name));
    }
  }
  // A refused identity names no tenant; every other event belongs to one.
  const bool authn = event.operation == Operation::kAuthnFailure ||
                     event.operation == Operation::kAuthnFailureSummary;
  if (event.tenant.empty() && !authn) {
    return MakeError(ErrorCode::kInvalidArgument, "audit tenant empty");
  }
  if (event.request_id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "audit request_id empty");
  }
  return {};
}

}  // namespace kmsd::audit
