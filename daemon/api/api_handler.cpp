#include "daemon/api/api_handler.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>
#include <exception>

#include "common/scope_guard.h"
#include "daemon/api/handler_impl.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kBearer = "bearer ";

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalidArgument, message); }

// A fixed set, so a client cannot put arbitrary bytes into a log line.
std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "OTHER";
}

bool MethodAllowed(std::string_view method, std::string_view allow) {
  std::size_t pos = 0;
  while (pos <= allow.size()) {
    auto comma = allow.find(',', pos);
    auto item =
        allow.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item == method) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

policy::RoleSet ToPolicyRoles(jose::RoleSet roles) {
  policy::RoleSet out = 0;
  if (roles.Has(jose::Role::kEncrypt)) out |= policy::kRoleEncrypt;
  if (roles.Has(jose::Role::kDecrypt)) out |= policy::kRoleDecrypt;
  if (roles.Has(jose::Role::kAdmin)) out |= policy::kRoleAdmin;
  return out;
}

}  // namespace

HttpError ErrorToHttp(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return {400, "invalid_request"};
    case ErrorCode::kUnauthenticated: return {401, "unauthenticated"};
    case ErrorCode::kPermissionDenied: return {403, "forbidden"};
    case ErrorCode::kInvalidAuthorizationToken: return {403, "invalid_authorization_token"};
    case ErrorCode::kPolicyDenied: return {403, "policy_denied"};
    case ErrorCode::kNotFound: return {404, "not_found"};
    case ErrorCode::kConflict: return {409, "conflict"};
    case ErrorCode::kGone: return {410, "key_destroyed"};
    case ErrorCode::kPayloadTooLarge: return {413, "payload_too_large"};
    case ErrorCode::kRateLimited: return {429, "rate_limited"};
    case ErrorCode::kHsmUnavailable: return {503, "hsm_unavailable"};
    case ErrorCode::kStoreUnavailable: return {503, "store_unavailable"};
    case ErrorCode::kAuditUnavailable: return {503, "audit_unavailable"};
    case ErrorCode::kIntegrity: return {500, "integrity_error"};
    case ErrorCode::kInternal: break;
  }
  return {500, "internal"};
}

http::Response ErrorReply(const Error& error) {
  const HttpError mapped = ErrorToHttp(error.code);
  boost::json::object inner;
  inner["code"] = mapped.code;
  // 500s never explain themselves to the client; the log has the cause.
  if (error.code == ErrorCode::kInternal) {
    spdlog::error("internal error: {}", error.message);
    inner["message"] = "internal error";
  } else if (error.code == ErrorCode::kIntegrity) {
    inner["message"] = "record failed its integrity check";
  } else {
    inner["message"] = error.message;
  }
  if (error.code == ErrorCode::kPolicyDenied && !error.rule.empty()) inner["rule"] = error.rule;
  return http::NoStoreReply(mapped.status,
                            boost::json::serialize(boost::json::object{{"error", inner}}));
}

http::Response PolicyErrorReply(const policy::PolicyError& error) {
  auto response = ErrorReply(error.error);
  if (error.problems.empty()) return response;
  auto body = boost::json::parse(response.body).as_object();
  boost::json::array problems;
  for (const auto& problem : error.problems) {
    problems.push_back(boost::json::object{{"path", problem.path},
                                           {"code", policy::ProblemCodeName(problem.code)},
                                           {"message", policy::ProblemMessage(problem.code)}});
  }
  body["error"].as_object()["problems"] = std::move(problems);
  response.body = boost::json::serialize(body);
  return response;
}

std::optional<RouteMatch> MatchRoute(std::string_view path, const ApiOptions& options) {
  struct Entry {
    std::string_view path;
    Route route;
    std::string_view allow;
    bool ops;
  };
  static constexpr Entry kExact[] = {
      {"/v1/datakeys", Route::kDatakeys, "POST", false},
      {"/v1/datakeys/decrypt", Route::kDecrypt, "POST", false},
      {"/v1/policy", Route::kPolicy, "GET, PUT", false},
      {"/v1/policy/evaluate", Route::kPolicyEvaluate, "POST", false},
      {"/v1/keys", Route::kKeys, "GET", false},
      {"/v1/keys/rotate", Route::kKeysRotate, "POST", false},
      {"/v1/keys/rewrap", Route::kKeysRewrap, "POST", false},
      {"/v1/audit", Route::kAudit, "GET", false},
      {"/healthz", Route::kHealthz, "GET", true},
      {"/readyz", Route::kReadyz, "GET", true},
      {"/metrics", Route::kMetrics, "GET", true},
  };
  for (const auto& entry : kExact) {
    if (path != entry.path) continue;
    if (entry.ops ? !options.serve_ops : !options.serve_api) return std::nullopt;
    return RouteMatch{entry.route, entry.path, entry.allow, {}};
  }
  constexpr std::string_view kRecords = "/v1/records/";
  if (options.serve_api && path.size() > kRecords.size() && path.starts_with(kRecords)) {
    return RouteMatch{Route::kRecord, "/v1/records/{context_id}", "GET, DELETE",
                      path.substr(kRecords.size())};
  }
  constexpr std::string_view kKeyVersions = "/v1/keys/";
  if (options.serve_api && path.size() > kKeyVersions.size() && path.starts_with(kKeyVersions)) {
    return RouteMatch{Route::kKeyVersion, "/v1/keys/{version}", "DELETE",
                      path.substr(kKeyVersions.size())};
  }
  return std::nullopt;
}

Result<std::string> DecodeContextId(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out += encoded[i];
      continue;
    }
    if (i + 2 >= encoded.size()) {
      return Invalid("context id has a bad percent-encoding");
    }
    const int hi = HexValue(encoded[i + 1]);
    const int lo = HexValue(encoded[i + 2]);
    if (hi < 0 || lo < 0) return Invalid("context id has a bad percent-encoding");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

ApiHandler::Impl::Impl(ApiOptions opts, ApiDependencies dependencies)
    : options(std::move(opts)),
      deps(std::move(dependencies)),
      metrics(deps.metrics ? deps.metrics : std::make_shared<Metrics>()),
      rate_limiter(options.rate_limits, options.default_rate_limit),
      authn_limiter(
          {options.authn_failure_burst,
           std::chrono::duration_cast<std::chrono::microseconds>(options.authn_failure_window)}) {
  metrics->SetAuditLog(&deps.audit_log);
}

ApiHandler::ApiHandler(ApiOptions options, ApiDependencies dependencies)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dependencies))) {}

ApiHandler::~ApiHandler() = default;

Metrics& ApiHandler::metrics() { return *impl_->metrics; }

http::Response ApiHandler::Handle(const http::Request& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view path = request.target;
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  std::string_view route_name = "unmatched";
  std::string tenant;
  http::Response response;
  try {
    const auto match = MatchRoute(path, impl_->options);
    if (!match) {
      response = ErrorReply(MakeError(ErrorCode::kNotFound, "no such route"));
    } else {
      route_name = match->name;
      if (!MethodAllowed(request.method, match->allow)) {
        // 405 keeps the contract's error body; its code is documented in docs/api.md.
        response = http::NoStoreReply(405, R"({"error":{"code":"method_not_allowed",)"
                                           R"("message":"method not allowed on this route"}})");
        response.headers.Add("Allow", std::string(match->allow));
      } else {
        response = impl_->Dispatch(request, *match, query, &tenant);
      }
    }
  } catch (const std::exception&) {
    // Last resort (allocation failure, a JSON library throw): no details out.
    response = ErrorReply(MakeError(ErrorCode::kInternal, "exception while handling the request"));
  }
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  impl_->metrics->RecordRequest(route_name, response.status, latency);
  // Never the body, the raw path (it may hold context ids of other tenants'
  // probes) or any header: method, route template, status, latency, ids. A
  // 500 is the operator's to look into: at error level, beside the internal
  // error's own line (ErrorReply), so the client's request id finds both.
  spdlog::log(response.status == 500 ? spdlog::level::err : spdlog::level::info,
              "http method={} route={} status={} latency_us={} request_id={} tenant={}",
              MethodLabel(request.method), route_name, response.status, latency.count(),
              request.request_id, tenant.empty() ? "-" : tenant);
  return response;
}

void ApiHandler::FlushAuthnFailures() {
  const Instant now = impl_->deps.clock.Now();
  const std::uint64_t suppressed = impl_->authn_limiter.Flush(now);
  if (suppressed == 0) return;
  audit::AuditEvent event;
  event.time = now;
  event.operation = audit::Operation::kAuthnFailureSummary;
  event.decision = audit::Decision::kDeny;
  event.request_id = "authn-summary";
  event.error = ErrorCode::kUnauthenticated;
  event.reason = "suppressed=" + std::to_string(suppressed);
  if (auto seq = impl_->deps.audit_log.Append(std::move(event)); !seq) {
    spdlog::warn("audit of authn failure summary failed: {}", ErrorCodeName(seq.error().code));
  }
}

void ApiHandler::Impl::AuditAuthnFailure(const http::Request& request, std::string_view reason) {
  metrics->RecordAuthnFailure();
  const Instant now = deps.clock.Now();
  const auto verdict = authn_limiter.Admit(now);
  auto append = [&](audit::Operation operation, std::string text) {
    audit::AuditEvent event;
    event.time = now;
    event.operation = operation;
    event.decision = audit::Decision::kDeny;
    event.request_id = request.request_id.empty() ? "-" : request.request_id;
    event.error = ErrorCode::kUnauthenticated;
    event.reason = std::move(text);
    if (auto seq = deps.audit_log.Append(std::move(event)); !seq) {
      spdlog::warn("audit of authn failure failed: {} request_id={}",
                   ErrorCodeName(seq.error().code), request.request_id);
    }
  };
  if (verdict.summarize > 0) {
    append(audit::Operation::kAuthnFailureSummary,
           "suppressed=" + std::to_string(verdict.summarize));
  }
  if (verdict.audit_this) append(audit::Operation::kAuthnFailure, std::string(reason));
}

Result<broker::Caller> ApiHandler::Impl::Authenticate(const http::Request& request,
                                                      bool* token_presented) {
  *token_presented = false;
  // Two Authorization fields are ambiguous (which one would a proxy or a log
  // have seen?): refused, never resolved by taking the first.
  std::size_t authorization_fields = 0;
  for (const auto& [name, value] : request.headers.fields()) {
    if (name.size() == 13 &&
        std::equal(name.begin(), name.end(), "authorization", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      ++authorization_fields;
    }
  }
  if (authorization_fields > 1) {
    *token_presented = true;
    return MakeError(ErrorCode::kUnauthenticated, "more than one Authorization header");
  }
  if (auto header = request.headers.Get("Authorization")) {
    *token_presented = true;
    std::string_view value = *header;
    bool bearer = value.size() > kBearer.size();
    for (std::size_t i = 0; bearer && i < kBearer.size(); ++i) {
      bearer = std::tolower(static_cast<unsigned char>(value[i])) == kBearer[i];
    }
    if (!bearer) return MakeError(ErrorCode::kUnauthenticated, "unsupported authorization scheme");
    value.remove_prefix(kBearer.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    auto identity = deps.identity.Verify(value, deps.clock.Now());
    if (!identity) return identity.error();
    return broker::Caller{identity->tenant, identity->principal, ToPolicyRoles(identity->roles),
                          request.request_id};
  }
  if (request.peer.client_certificate) {
    auto it = deps.client_certs.find(request.peer.sha256_fingerprint);
    if (it == deps.client_certs.end()) {
      return MakeError(ErrorCode::kUnauthenticated, "client certificate not mapped");
    }
    return broker::Caller{it->second.tenant, it->second.principal, it->second.roles,
                          request.request_id};
  }
  return MakeError(ErrorCode::kUnauthenticated, "missing credentials");
}

http::Response ApiHandler::Impl::Dispatch(const http::Request& request, const RouteMatch& match,
                                          std::string_view query, std::string* tenant) {
  switch (match.route) {
    case Route::kHealthz: return http::NoStoreReply(200, R"({"status":"ok"})");
    case Route::kReadyz: return Readyz();
    case Route::kMetrics: {
      auto response = http::NoStoreReply(200, metrics->RenderPrometheus());
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return response;
    }
    default: break;
  }

  bool token_presented = false;
  auto caller = Authenticate(request, &token_presented);
  if (!caller) {
    AuditAuthnFailure(request, caller.error().message);
    // The category only (missing, expired, bad signature, wrong issuer): the
    // verifier's messages never carry token bytes.
    spdlog::warn("authentication refused request_id={} peer={} reason={}", request.request_id,
                 request.peer.remote_address, caller.error().message);
    auto response = ErrorReply(caller.error());
    response.headers.Add("WWW-Authenticate", token_presented
                                                 ? R"(Bearer realm="kmsd", error="invalid_token")"
                                                 : R"(Bearer realm="kmsd")");
    return response;
  }
  *tenant = caller->tenant;

  if (auto wait = rate_limiter.Admit(caller->tenant, deps.clock.Now())) {
    metrics->RecordRateLimited();
    auto response = ErrorReply(MakeError(ErrorCode::kRateLimited, "tenant rate limit exceeded"));
    response.headers.Add("Retry-After", std::to_string(wait->count()));
    return response;
  }

  if (!query.empty() && match.route != Route::kAudit && match.route != Route::kKeyVersion) {
    return ErrorReply(Invalid("this route takes no query parameters"));
  }
  switch (match.route) {
    case Route::kDatakeys: return Generate(request, *caller);
    case Route::kDecrypt: return Decrypt(request, *caller);
    case Route::kRecord: return Record(request, *caller, match.tail);
    case Route::kPolicy: return Policy(request, *caller);
    case Route::kPolicyEvaluate: return Evaluate(request, *caller);
    case Route::kKeys:
    case Route::kKeysRotate: return Keys(request, *caller);
    case Route::kKeysRewrap: return RewrapKeys(request, *caller);
    case Route::kKeyVersion: return DestroyKeyVersion(request, *caller, match.tail, query);
    case Route::kAudit: return Audit(request, *caller, query);
    default: return ErrorReply(MakeError(ErrorCode::kInternal, "unrouted"));
  }
}

http::Response ApiHandler::Impl::Readyz() {
  auto unavailable = [](const std::vector<std::string>& failing) {
    boost::json::array names;
    for (const auto& name : failing) names.emplace_back(name);
    return http::NoStoreReply(503, boost::json::serialize(boost::json::object{
                                       {"status", "unavailable"}, {"failing", std::move(names)}}));
  };
  std::unique_lock lock(ready_mu);
  const auto now = std::chrono::steady_clock::now();
  const bool stale = !ready_known || now - ready_at >= options.readiness_cache;
  if (stale && probing) {
    // Another worker runs the checks: a hung token must tie up that worker
    // only, so wait a bounded time and then name the check that hangs.
    if (!ready_cv.wait_for(lock, options.readiness_stall, [&] { return !probing; })) {
      return unavailable({probing_check});
    }
  } else if (stale) {
    probing = true;
    // However this probe ends (an exception included), the next one may run.
    ScopeGuard end_probe([&] {
      probing = false;
      ready_cv.notify_all();
    });
    std::vector<std::string> failing;
    for (const auto& check : deps.readiness) {
      probing_check = check.name;
      lock.unlock();
      bool ok = false;
      try {
        ok = check.check ? check.check().has_value() : false;
      } catch (const std::exception&) {
        ok = false;
      }
      lock.lock();
      if (!ok) failing.push_back(check.name);
    }
    if (!failing.empty() && failing != ready_failing) {
      spdlog::warn("readiness: {} check(s) failing", failing.size());
    }
    ready_failing = std::move(failing);
    ready_known = true;
    ready_at = std::chrono::steady_clock::now();
  }
  if (ready_failing.empty()) return http::NoStoreReply(200, R"({"status":"ready"})");
  return unavailable(ready_failing);
}

}  // namespace kmsd::api
