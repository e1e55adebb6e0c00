// kmsctl's exit codes and the messages it prints for failures.
//
//   0 ok
//   1 other / internal (I/O error, bad reply, daemon 500)
//   2 usage (bad arguments, missing option, unusable option files)
//   3 refused: 401, 403, 404, 410; a TLS handshake the peer or we refused
//   4 unavailable: 503 (after retries), 429, 502, 504, connection refused,
//     timeouts: try again later
//   5 conflict or other request error: 400, 409, 413, other 4xx
//   6 integrity: an encrypted file that fails authentication or is not in
//     the format, a record the daemon found tampered (500 integrity_error),
//     an audit log that fails verification
//
// docs/kmsctl.md carries the same table; keep them in step.
#pragma once

#include <string>

#include "cli/client/error.h"
#include "common/result.h"

namespace kmsd::kmsctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitRefused = 3,
  kExitUnavailable = 4,
  kExitRequest = 5,
  kExitIntegrity = 6,
};

ExitCode ExitCodeFor(const client::ClientError& error);
// For local failures (file encryption, key files): kIntegrity → 6,
// kInvalidArgument → 2 unless `integrity_context` (reading an encrypted
// file's header, where a malformed header is damage → 6), others → 1.
ExitCode ExitCodeFor(const Error& error, bool integrity_context = false);

// One or two sentences a person can act on: what happened, at which daemon,
// and what to do next. Never contains tokens or key material.
std::string MessageFor(const client::ClientError& error, const std::string& url);

}  // namespace kmsd::kmsctl
