// Result and error types shared by every module.
//
// Errors travel as values (boost::system::result), never as exceptions, on
// every request path. An Error's message is safe to log and to return: it is
// built from ids and codes, never from request bytes or key material.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace kmsd {

enum class ErrorCode {
  kInvalidArgument,            // malformed input: the caller must change the request
  kUnauthenticated,            // missing, invalid or expired identity
  kPermissionDenied,           // authenticated, but role or tenant does not allow it
  kInvalidAuthorizationToken,  // the data holder's authorization token was refused
  kPolicyDenied,               // a tenant policy rule refused the operation
  kNotFound,
  kConflict,         // e.g. a context id already used within the tenant
  kGone,             // destroyed: the key is unrecoverable
  kPayloadTooLarge,  // an input exceeds a documented bound
  kRateLimited,
  kHsmUnavailable,    // token or module unreachable; retryable
  kStoreUnavailable,  // record store unreachable or busy; retryable
  kAuditUnavailable,  // the audit sink cannot be written; retryable, fails closed
  kIntegrity,         // authenticated decryption failed: data altered at rest
  kInternal,
};

// Stable snake_case name of a code (used in logs, audit events and metrics).
std::string_view ErrorCodeName(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // safe to log and return; never contains secrets
  std::string rule;     // the deciding policy rule id, for kPolicyDenied only

  friend bool operator==(const Error&, const Error&) = default;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message), {}};
}

// Found by ADL when result<T, Error>::value() is called on an error: turns the
// error into an exception. Only start-up code and tests call value() unchecked.
[[noreturn]] void throw_exception_from_error(const Error& error,
                                             const boost::source_location& location);

template <class T>
using Result = boost::system::result<T, Error>;
using Status = Result<void>;

}  // namespace kmsd
