// The error type of the kmsd client library: what went wrong with one call,
// in terms a caller can branch on (kind, HTTP status, contract error code)
// and a message a person can read.
//
// Messages are built from codes, ids and the daemon's own error message (which
// the contract keeps free of secrets); never from key material or tokens.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kmsd::client {

struct ClientError {
  enum class Kind {
    kHttp,             // the daemon answered with a non-success status (see status, code)
    kConnect,          // resolve/connect failed (e.g. refused), or the connection broke
    kTimeout,          // connect, send or receive took longer than its timeout
    kTls,              // TLS handshake failed (certificate, hostname, client cert)
    kProtocol,         // the reply was not HTTP/JSON of the contract's shape
    kInvalidArgument,  // the call's own arguments (or options) are unusable
  };
  Kind kind = Kind::kProtocol;
  int status = 0;         // HTTP status for kHttp, else 0
  std::string code;       // contract error code, e.g. "key_destroyed"; empty if none
  std::string message;    // the daemon's message for kHttp, else ours
  std::string rule;       // the deciding policy rule for policy_denied
  unsigned attempts = 1;  // how many times the request was sent (retries on 503)
  // A rejected policy document or facts: each problem as "path: message (code)".
  std::vector<std::string> problems;
};

std::string_view ClientErrorKindName(ClientError::Kind kind) noexcept;

// One line for logs: "http 410 key_destroyed: ..." / "connect: ...".
std::string Describe(const ClientError& error);

// Found by ADL when CallResult<T>::value() is called on an error.
[[noreturn]] void throw_exception_from_error(const ClientError& error,
                                             const boost::source_location& location);

template <class T>
using CallResult = boost::system::result<T, ClientError>;

}  // namespace kmsd::client
