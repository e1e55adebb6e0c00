// AWS Signature Version 4 verification (header form, AWS4-HMAC-SHA256).
//
// Pure code: no I/O, no clock (the caller passes `now`), no HTTP library.
// HMAC-SHA256 and SHA-256 come from OpenSSL. The canonical request follows
// the SigV4 rules for services other than S3: the path is normalised (empty
// and "." segments dropped, ".." resolved) and each segment percent-encoded
// once over its decoded bytes; query parameters are decoded, re-encoded and
// sorted by name then value; each signed header's values (in arrival order)
// are trimmed, inner runs of spaces collapsed, joined with ','; the payload
// hash is SHA-256 of the body.
//
// Verify() accepts a request only when: the Authorization header parses;
// SignedHeaders is sorted, lowercase, and names `host` and `x-amz-date`
// (each present in the request); the credential scope is
// <date of X-Amz-Date>/<region>/<service>/aws4_request with the configured
// region and service; X-Amz-Date is within `max_skew` of `now` either way;
// the access key id is one of the credentials; and the signature matches
// (constant-time comparison). Any number of credentials may be active at
// once (rotation). Failures are values, never exceptions; messages name the
// rule that failed, never a secret or a signature.
//
// Thread-safe: all functions are pure; Credential owns its secret.
#pragma once

#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "common/time.h"

namespace kmsd::sigv4 {

struct Credential {
  std::string access_key_id;
  Secret secret_access_key;
};

struct Options {
  std::string region;
  std::string service;
  std::chrono::seconds max_skew{300};
};

// What the verifier sees of a request. `target` is the origin-form request
// target (path, optionally "?query"); headers in arrival order.
struct Request {
  std::string_view method;
  std::string_view target;
  const std::vector<std::pair<std::string, std::string>>& headers;
  std::string_view body;
};

enum class Failure {
  kMissingAuthorization,  // no Authorization header
  kMalformed,             // header, scope, SignedHeaders or X-Amz-Date unusable
  kScopeMismatch,         // region, service or date of the scope is not ours
  kClockSkew,             // X-Amz-Date further than max_skew from now
  kUnknownAccessKey,
  kSignatureMismatch,
};
std::string_view FailureName(Failure failure) noexcept;

struct VerifyError {
  Failure failure;
  std::string message;  // safe to log: names the rule, never bytes of secrets
};

// Found by ADL when VerifyResult::value() is called on an error (tests only).
[[noreturn]] void throw_exception_from_error(const VerifyError& error,
                                             const boost::source_location& location);

template <class T>
using VerifyResult = boost::system::result<T, VerifyError>;

// On success, the access key id that signed the request.
VerifyResult<std::string> Verify(const Request& request, std::span<const Credential> credentials,
                                 const Options& options, Instant now);

// The parts of an Authorization header.
struct Authorization {
  std::string access_key_id;
  std::string date;  // YYYYMMDD
  std::string region;
  std::string service;
  std::string terminator;                   // "aws4_request"
  std::vector<std::string> signed_headers;  // as listed
  std::string signature;                    // lowercase hex
};
VerifyResult<Authorization> ParseAuthorization(std::string_view header);

// Building blocks, exposed for the test-suite vectors.
std::string CanonicalUri(std::string_view path);
std::string CanonicalQuery(std::string_view query);
// kMalformed when a signed header is absent from the request.
VerifyResult<std::string> CanonicalRequest(const Request& request,
                                           const std::vector<std::string>& signed_headers);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// Lowercase hex HMAC-SHA256 signature of `string_to_sign` with the key
// derived from secret/date/region/service.
std::string Sign(const Secret& secret, std::string_view date, std::string_view region,
                 std::string_view service, std::string_view string_to_sign);
std::string Sha256Hex(std::string_view data);
// YYYYMMDD'T'HHMMSS'Z' (UTC) → instant; nullopt when malformed.
std::optional<Instant> ParseAmzDate(std::string_view text);

}  // namespace kmsd::sigv4
