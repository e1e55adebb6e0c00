// Internal to kmsd_api: the state behind ApiHandler and the helpers its
// route functions share. Not a public header.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/authn_failure_limiter.h"
#include "daemon/api/api_handler.h"
#include "daemon/api/rate_limiter.h"

namespace kmsd::api {

enum class Route {
  kDatakeys,
  kDecrypt,
  kRecord,
  kPolicy,
  kPolicyEvaluate,
  kKeys,
  kKeysRotate,
  kKeysRewrap,
  kKeyVersion,
  kAudit,
  kHealthz,
  kReadyz,
  kMetrics,
};

struct RouteMatch {
  Route route;
  std::string_view name;   // the route template, used in logs and metric labels
  std::string_view allow;  // the Allow header value: methods this path serves
  std::string_view tail;   // /v1/records/{tail} (still percent-encoded), /v1/keys/{tail}
};

// Matches a request path (no query) against the routes `options` serves.
std::optional<RouteMatch> MatchRoute(std::string_view path, const ApiOptions& options);

// Percent-decodes a context id taken from the path: every %HH triplet is
// decoded once (so "%2F" and "/" are the same id); a '%' not followed by two
// hex digits is kInvalidArgument. The broker checks the decoded id's format.
Result<std::string> DecodeContextId(std::string_view encoded);

// Reply helpers; JSON bodies go out with http::NoStoreReply.
http::Response ErrorReply(const Error& error);
// {"error": {..., "problems": [{"path","code","message"}]}} for a policy document.
http::Response PolicyErrorReply(const policy::PolicyError& error);

struct ApiHandler::Impl {
  Impl(ApiOptions options, ApiDependencies dependencies);

  http::Response Dispatch(const http::Request& request, const RouteMatch& match,
                          std::string_view query, std::string* tenant);
  // Bearer token or mapped client certificate; on failure the reply to send.
  Result<broker::Caller> Authenticate(const http::Request& request, bool* token_presented);
  void AuditAuthnFailure(const http::Request& request, std::string_view reason);

  http::Response Generate(const http::Request& request, const broker::Caller& caller);
  http::Response Decrypt(const http::Request& request, const broker::Caller& caller);
  http::Response Record(const http::Request& request, const broker::Caller& caller,
                        std::string_view tail);
  http::Response Policy(const http::Request& request, const broker::Caller& caller);
  http::Response Evaluate(const http::Request& request, const broker::Caller& caller);
  http::Response Keys(const http::Request& request, const broker::Caller& caller);
  http::Response RewrapKeys(const http::Request& request, const broker::Caller& caller);
  http::Response DestroyKeyVersion(const http::Request& request, const broker::Caller& caller,
                                   std::string_view tail, std::string_view query);
  http::Response Audit(const http::Request& request, const broker::Caller& caller,
                       std::string_view query);
  http::Response Readyz();

  // Runs a broker call, records its latency and any policy denial.
  template <class F>
  auto Timed(std::string_view operation, F&& call) {
    const auto start = std::chrono::steady_clock::now();
    auto result = call();
    metrics->RecordBrokerCall(operation, std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::steady_clock::now() - start));
    return result;
  }

  const ApiOptions options;
  ApiDependencies deps;
  std::shared_ptr<Metrics> metrics;
  RateLimiter rate_limiter;
  audit::AuthnFailureLimiter authn_limiter;

  std::mutex ready_mu;               // guards the fields below; not held while a check runs
  std::condition_variable ready_cv;  // a probe finished
  bool probing = false;
  std::string probing_check;  // the check running now
  bool ready_known = false;
  std::chrono::steady_clock::time_point ready_at{};
  std::vector<std::string> ready_failing;
};

}  // namespace kmsd::api
