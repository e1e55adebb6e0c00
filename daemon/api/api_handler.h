// kmsd::api — the HTTP contract (v1) of docs/api.md on top of the broker.
//
// ApiHandler is the http::Handler the daemon gives the transport. Per request
// it: routes by method and path (unknown path -> 404 `not_found`, known path
// with another method -> 405 `method_not_allowed` with Allow), authenticates
// (Bearer token through jose::IdentityVerifier, or a verified mTLS client
// certificate listed in ApiDependencies::client_certs), applies the tenant's
// rate limit, parses the JSON body strictly, calls the broker and maps its
// Result to a reply. Every error reply is {"error": {"code", "message",
// "rule"?}} produced by ErrorToHttp(); messages carry codes and ids only.
//
// Secrets: the bearer token is never logged, audited or echoed; a plaintext
// key is base64-encoded straight from its Secret into the reply body and
// every intermediate buffer is wiped (OPENSSL_cleanse). One log line per
// request: method, route template, status, latency, request id, tenant.
//
// Thread-safety: Handle may run concurrently on every worker thread. The
// dependencies must outlive the handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/audit_log.h"
#include "broker/broker.h"
#include "broker/jose/identity_verifier.h"
#include "common/result.h"
#include "common/time.h"
#include "daemon/api/metrics.h"
#include "daemon/http/handler.h"
#include "policy/policy.h"

namespace kmsd::api {

// One part /readyz checks, e.g. "token:primary" (a wrap/unwrap round trip),
// "store" (a query), "audit" (AuditLog::Healthy). `check` may block; the
// checks run on one worker thread at a time, at most once per
// ApiOptions::readiness_cache.
struct ReadinessCheck {
  std::string name;
  std::function<Status()> check;
};

// What a verified mTLS client certificate stands for, keyed in
// ApiDependencies::client_certs by the lowercase hex SHA-256 fingerprint of
// its DER form (http::PeerInfo::sha256_fingerprint).
struct ClientCertIdentity {
  std::string tenant;
  std::string principal;
  policy::RoleSet roles = 0;  // policy::kRoleEncrypt | kRoleDecrypt | kRoleAdmin
};

// Token bucket: `rps` tokens per second, at most `burst` stored (and the
// bucket starts full). rps <= 0 means unlimited.
struct TenantRateLimit {
  double rps = 0;
  double burst = 0;
};

struct ApiOptions {
  bool serve_api = true;  // /v1/...
  bool serve_ops = true;  // /healthz, /readyz, /metrics
  std::chrono::milliseconds readiness_cache{3000};
  // One worker runs the checks; /readyz calls meanwhile wait this long for
  // it, then answer 503 naming the check still running (a hung token).
  std::chrono::milliseconds readiness_stall{2000};
  // Per tenant; a tenant not listed gets default_rate_limit (absent: unlimited).
  std::map<std::string, TenantRateLimit, std::less<>> rate_limits;
  std::optional<TenantRateLimit> default_rate_limit;
  std::size_t audit_page_max = audit::kMaxQueryLimit;  // GET /v1/audit limit bound
  // Individual authn_failure audit events per window; beyond, one summary.
  std::uint32_t authn_failure_burst = 20;
  std::chrono::seconds authn_failure_window{60};
};

struct ApiDependencies {
  broker::Broker& broker;
  jose::IdentityVerifier& identity;
  audit::AuditLog& audit_log;  // queries for GET /v1/audit, authn failure events
  const Clock& clock;
  std::map<std::string, ClientCertIdentity, std::less<>> client_certs;
  std::vector<ReadinessCheck> readiness;
  // Shared with the transport (pass the same object as Server's Observer).
  // Null: the handler creates its own (see ApiHandler::metrics()).
  std::shared_ptr<Metrics> metrics;
};

// The single mapping ErrorCode -> (HTTP status, contract error code).
struct HttpError {
  unsigned status;
  std::string_view code;
};
HttpError ErrorToHttp(ErrorCode code) noexcept;

class ApiHandler final : public http::Handler {
 public:
  ApiHandler(ApiOptions options, ApiDependencies dependencies);
  ~ApiHandler() override;
  ApiHandler(const ApiHandler&) = delete;
  ApiHandler& operator=(const ApiHandler&) = delete;

  http::Response Handle(const http::Request& request) override;

  // Writes the authn_failure_summary of a finished window, if any. Call
  // periodically (e.g. every few seconds) and at shutdown.
  void FlushAuthnFailures();

  Metrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmsd::api
