#include "common/result.h"

#include <stdexcept>

namespace kmsd {

std::string_view ErrorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kInvalidAuthorizationToken: return "invalid_authorization_token";
    case ErrorCode::kPolicyDenied: return "policy_denied";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kGone: return "gone";
    case ErrorCode::kPayloadTooLarge: return "payload_too_large";
    case ErrorCode::kRateLimited: return "rate_limited";
    case ErrorCode::kHsmUnavailable: return "hsm_unavailable";
    case ErrorCode::kStoreUnavailable: return "store_unavailable";
    case ErrorCode::kAuditUnavailable: return "audit_unavailable";
    case ErrorCode::kIntegrity: return "integrity_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

void throw_exception_from_error(const Error& error, const boost::source_location&) {
  throw std::runtime_error(std::string(ErrorCodeName(error.code)) + ": " + error.message);
}

}  // namespace kmsd
