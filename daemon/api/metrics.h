// Metrics: the Prometheus counters and histograms behind GET /metrics.
//
// Labels are bounded: route templates (never raw paths), status codes,
// broker operation names, and policy rule ids (at most kMaxRuleLabels
// distinct ones, the rest counted as "_other"). No tenant, principal, context
// id or token ever becomes a label.
//
// It is also the transport's http::Observer (connections, handshake failures,
// every reply including the transport's own 413/431). Thread-safe; the
// Record* calls and the Observer hooks never block for long or throw.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/audit_log.h"
#include "daemon/http/handler.h"

namespace kmsd::api {

class Metrics final : public http::Observer {
 public:
  static constexpr std::size_t kMaxRuleLabels = 64;

  // Buckets in seconds for every latency histogram.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  // A request answered by the API handler, by route template ("/v1/datakeys").
  void RecordRequest(std::string_view route, unsigned status, std::chrono::microseconds latency);
  // One broker call ("generate", "decrypt", ...), timed around the call.
  void RecordBrokerCall(std::string_view operation, std::chrono::microseconds latency);
  void RecordPolicyDenial(std::string_view rule);
  void RecordAuthnFailure();
  void RecordRateLimited();

  // One key-service call ("generate_data_key", "unwrap", ...) on the named
  // token, timed around the PKCS#11 work alone; `ok` false counts an error.
  void RecordHsmCall(std::string_view token, std::string_view operation,
                     std::chrono::microseconds latency, bool ok);

  // A token's session pool, sampled at each scrape: sessions open, leased
  // (in use) and the pool's size. Set once per token before serving.
  struct PoolSample {
    std::size_t open = 0;
    std::size_t in_use = 0;
    std::size_t size = 0;
  };
  void AddTokenPool(std::string token, std::function<PoolSample()> sample);

  // When set, audit_* gauges come from log->stats()/Healthy(). Must outlive this.
  void SetAuditLog(const audit::AuditLog* log) { audit_log_.store(log); }

  // Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

  void OnRequest(const http::RequestRecord& record) noexcept override;
  void OnConnectionOpened() noexcept override;
  void OnConnectionClosed() noexcept override;
  void OnConnectionRejected() noexcept override;
  void OnHandshakeFailed() noexcept override;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
    void Observe(double seconds);
  };

  mutable std::mutex mu_;  // guards the maps
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;
  std::map<std::string, Histogram> request_latency_;
  std::map<std::string, Histogram> broker_latency_;
  std::map<std::pair<std::string, std::string>, Histogram> hsm_latency_;  // (token, operation)
  std::map<std::pair<std::string, std::string>, std::uint64_t> hsm_errors_;
  std::vector<std::pair<std::string, std::function<PoolSample()>>> pools_;
  std::map<std::string, std::uint64_t> policy_denials_;
  std::map<unsigned, std::uint64_t> transport_replies_;

  std::atomic<std::uint64_t> authn_failures_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::uint64_t> rejected_connections_{0};
  std::atomic<std::uint64_t> handshake_failures_{0};
  std::atomic<const audit::AuditLog*> audit_log_{nullptr};
};

}  // namespace kmsd::api
