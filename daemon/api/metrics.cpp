#include "daemon/api/metrics.h"

#include <fmt/format.h>

#include "common/locked_pool.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kOtherRule = "_other";

// Label values come from our own route table, operation names and policy
// rule ids (validated by the policy parser); escape anyway per the format.
std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `name="value"`, the value escaped.
std::string Label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, Escape(value));
}

// `labels` is a rendered label list such as Label("route", r).
template <class Histogram>
void RenderHistogram(std::string& out, std::string_view name, const std::string& labels,
                     const Histogram& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < Metrics::kBuckets.size(); ++i) {
    cumulative += h.buckets[i];
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, Metrics::kBuckets[i],
                       cumulative);
  }
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, h.sum);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count);
}

}  // namespace

void Metrics::Histogram::Observe(double seconds) {
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++buckets[i];
      break;
    }
  }
  ++count;
  sum += seconds;
}

void Metrics::RecordRequest(std::string_view route, unsigned status,
                            std::chrono::microseconds latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), status}];
  request_latency_[std::string(route)].Observe(seconds);
}

void Metrics::RecordBrokerCall(std::string_view operation, std::chrono::microseconds latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  std::lock_guard lock(mu_);
  broker_latency_[std::string(operation)].Observe(seconds);
}

void Metrics::RecordPolicyDenial(std::string_view rule) {
  std::lock_guard lock(mu_);
  auto it = policy_denials_.find(std::string(rule));
  if (it != policy_denials_.end()) {
    ++it->second;
  } else if (policy_denials_.size() < kMaxRuleLabels) {
    policy_denials_.emplace(std::string(rule), 1);
  } else {
    ++policy_denials_[std::string(kOtherRule)];
  }
}

void Metrics::RecordHsmCall(std::string_view token, std::string_view operation,
                            std::chrono::microseconds latency, bool ok) {
  const double seconds = std::chrono::duration<double>(latency).count();
  std::pair<std::string, std::string> key{std::string(token), std::string(operation)};
  std::lock_guard lock(mu_);
  hsm_latency_[key].Observe(seconds);
  if (!ok) ++hsm_errors_[std::move(key)];
}

void Metrics::AddTokenPool(std::string token, std::function<PoolSample()> sample) {
  std::lock_guard lock(mu_);
  pools_.emplace_back(std::move(token), std::move(sample));
}

void Metrics::RecordAuthnFailure() { authn_failures_.fetch_add(1, std::memory_order_relaxed); }
void Metrics::RecordRateLimited() { rate_limited_.fetch_add(1, std::memory_order_relaxed); }

void Metrics::OnRequest(const http::RequestRecord& record) noexcept {
  try {
    std::lock_guard lock(mu_);
    ++transport_replies_[record.status];
  } catch (...) {
    // Allocation failure: drop the sample rather than throw into the I/O thread.
  }
}
void Metrics::OnConnectionOpened() noexcept {
  open_connections_.fetch_add(1, std::memory_order_relaxed);
}
void Metrics::OnConnectionClosed() noexcept {
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
}
void Metrics::OnConnectionRejected() noexcept {
  rejected_connections_.fetch_add(1, std::memory_order_relaxed);
}
void Metrics::OnHandshakeFailed() noexcept {
  handshake_failures_.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard lock(mu_);
  out += "# HELP kmsd_api_requests_total API requests by route template and status.\n";
  out += "# TYPE kmsd_api_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += fmt::format("kmsd_api_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                       Escape(key.first), key.second, count);
  }
  out += "# HELP kmsd_api_request_duration_seconds Handler latency by route template.\n";
  out += "# TYPE kmsd_api_request_duration_seconds histogram\n";
  for (const auto& [route, h] : request_latency_) {
    RenderHistogram(out, "kmsd_api_request_duration_seconds", Label("route", route), h);
  }
  out += "# HELP kmsd_broker_operation_duration_seconds Broker call latency (token, store, ";
  out += "audit) by operation.\n";
  out += "# TYPE kmsd_broker_operation_duration_seconds histogram\n";
  for (const auto& [operation, h] : broker_latency_) {
    RenderHistogram(out, "kmsd_broker_operation_duration_seconds", Label("operation", operation),
                    h);
  }
  out += "# HELP kmsd_hsm_operation_duration_seconds Token (PKCS#11) call latency by token ";
  out += "and operation.\n";
  out += "# TYPE kmsd_hsm_operation_duration_seconds histogram\n";
  for (const auto& [key, h] : hsm_latency_) {
    RenderHistogram(out, "kmsd_hsm_operation_duration_seconds",
                    Label("token", key.first) + "," + Label("operation", key.second), h);
  }
  out += "# HELP kmsd_hsm_operation_errors_total Token calls that returned an error.\n";
  out += "# TYPE kmsd_hsm_operation_errors_total counter\n";
  for (const auto& [key, count] : hsm_errors_) {
    out += fmt::format("kmsd_hsm_operation_errors_total{{token=\"{}\",operation=\"{}\"}} {}\n",
                       Escape(key.first), Escape(key.second), count);
  }
  out += "# HELP kmsd_hsm_pool_sessions Token sessions by state (open, in_use) and pool size.\n";
  out += "# TYPE kmsd_hsm_pool_sessions gauge\n";
  for (const auto& [token, sample] : pools_) {
    const PoolSample p = sample();
    out += fmt::format(
        "kmsd_hsm_pool_sessions{{token=\"{0}\",state=\"open\"}} {1}\n"
        "kmsd_hsm_pool_sessions{{token=\"{0}\",state=\"in_use\"}} {2}\n"
        "kmsd_hsm_pool_sessions{{token=\"{0}\",state=\"size\"}} {3}\n",
        Escape(token), p.open, p.in_use, p.size);
  }
  out += "# HELP kmsd_policy_denials_total Requests refused by a policy rule.\n";
  out += "# TYPE kmsd_policy_denials_total counter\n";
  for (const auto& [rule, count] : policy_denials_) {
    out += fmt::format("kmsd_policy_denials_total{{rule=\"{}\"}} {}\n", Escape(rule), count);
  }
  out += "# HELP kmsd_http_replies_total Replies written by the transport, by status.\n";
  out += "# TYPE kmsd_http_replies_total counter\n";
  for (const auto& [status, count] : transport_replies_) {
    out += fmt::format("kmsd_http_replies_total{{status=\"{}\"}} {}\n", status, count);
  }
  out += fmt::format(
      "# HELP kmsd_authn_failures_total Refused identities.\n"
      "# TYPE kmsd_authn_failures_total counter\n"
      "kmsd_authn_failures_total {}\n"
      "# HELP kmsd_rate_limited_total Requests refused by a tenant rate limit.\n"
      "# TYPE kmsd_rate_limited_total counter\n"
      "kmsd_rate_limited_total {}\n"
      "# HELP kmsd_http_open_connections Open connections.\n"
      "# TYPE kmsd_http_open_connections gauge\n"
      "kmsd_http_open_connections {}\n"
      "# HELP kmsd_http_rejected_connections_total Connections refused by the cap.\n"
      "# TYPE kmsd_http_rejected_connections_total counter\n"
      "kmsd_http_rejected_connections_total {}\n"
      "# HELP kmsd_tls_handshake_failures_total Failed TLS handshakes.\n"
      "# TYPE kmsd_tls_handshake_failures_total counter\n"
      "kmsd_tls_handshake_failures_total {}\n"
      "# HELP kmsd_secret_memory_unlocked_bytes Memory for keys, PINs and tokens that "
      "RLIMIT_MEMLOCK did not let kmsd lock (it may be swapped out).\n"
      "# TYPE kmsd_secret_memory_unlocked_bytes gauge\n"
      "kmsd_secret_memory_unlocked_bytes {}\n",
      authn_failures_.load(std::memory_order_relaxed),
      rate_limited_.load(std::memory_order_relaxed),
      open_connections_.load(std::memory_order_relaxed),
      rejected_connections_.load(std::memory_order_relaxed),
      handshake_failures_.load(std::memory_order_relaxed),
      locked_pool::CurrentStats().unlocked_bytes);
  if (const auto* log = audit_log_.load()) {
    const auto stats = log->stats();
    out += fmt::format(
        "# HELP kmsd_audit_healthy 1 while the audit sink is writable.\n"
        "# TYPE kmsd_audit_healthy gauge\n"
        "kmsd_audit_healthy {}\n"
        "# HELP kmsd_audit_events_total Durable audit events.\n"
        "# TYPE kmsd_audit_events_total counter\n"
        "kmsd_audit_events_total {}\n"
        "# HELP kmsd_audit_failures_total Audit write or sync failures.\n"
        "# TYPE kmsd_audit_failures_total counter\n"
        "kmsd_audit_failures_total {}\n"
        "# HELP kmsd_audit_rejected_total Audit appends refused (sink down, queue full).\n"
        "# TYPE kmsd_audit_rejected_total counter\n"
        "kmsd_audit_rejected_total {}\n"
        "# HELP kmsd_audit_batches_total Group-commit batches written.\n"
        "# TYPE kmsd_audit_batches_total counter\n"
        "kmsd_audit_batches_total {}\n"
        "# HELP kmsd_audit_queue_depth Events waiting for the audit writer.\n"
        "# TYPE kmsd_audit_queue_depth gauge\n"
        "kmsd_audit_queue_depth {}\n",
        log->Healthy() ? 1 : 0, stats.events, stats.failures, stats.rejected, stats.batches,
        log->QueueDepth());
  }
  return out;
}

}  // namespace kmsd::api
