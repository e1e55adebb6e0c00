// The seam between the HTTP transport and whatever answers requests.
//
// The transport (server.h) parses HTTP, enforces limits, timeouts and TLS,
// then hands each complete request to a Handler on a worker thread. It knows
// nothing of routes, JSON or tenants; the daemon's API layer implements Handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kmsd::http {

// Request or response header fields in arrival order. Names compare
// case-insensitively; values are as received (already bounded by the
// header limit).
class Headers {
 public:
  void Add(std::string name, std::string value);
  // The first field with this name, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  // Overwrites every value in memory (they may carry bearer tokens) and clears.
  void Wipe() noexcept;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Who is on the other end of the connection. Filled once per connection.
struct PeerInfo {
  std::string remote_address;  // textual IP address, no port
  std::uint16_t remote_port = 0;
  std::string listener;  // ListenerConfig::name of the listener that accepted it
  bool tls = false;
  // Set only when the peer presented a certificate that verified against the
  // listener's client CA (mutual TLS).
  bool client_certificate = false;
  std::string subject_cn;                      // first commonName of the subject
  std::vector<std::string> subject_alt_names;  // "DNS:...", "IP:...", "URI:...", "email:..."
  std::string sha256_fingerprint;              // lowercase hex of SHA-256 over the DER certificate
};

struct Request {
  std::string method;  // as sent, e.g. "GET"; unknown verbs are passed through
  std::string target;  // origin-form request target, e.g. "/v1/records/abc?x=1"
  Headers headers;
  std::string body;        // at most ServerConfig::body_limit bytes
  std::string request_id;  // echoed X-Request-Id or a generated one; sent back on the reply
  PeerInfo peer;
};

struct Response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Extra fields, e.g. {"Retry-After", "3"}. The transport sets Content-Type,
  // Content-Length, Connection and X-Request-Id itself; those names are ignored here.
  Headers headers;
};

// A reply with `body` that no cache may keep (Cache-Control: no-store):
// replies of kmsd may carry keys.
Response NoStoreReply(unsigned status, std::string body);

// Answers requests. Handle runs on a worker thread and may block (PKCS#11,
// store). It is called concurrently from several workers, so an
// implementation must be thread-safe. An exception escaping Handle becomes a
// 500 `internal` reply without details; implementations should not rely on that.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual Response Handle(const Request& request) = 0;
};

// One finished exchange, reported to the Observer. Also reported for replies
// the transport produces itself (400, 413, 431, 500).
struct RequestRecord {
  std::string_view listener;
  // As sent (any token the parser accepted), empty when the request line could
  // not be parsed: map it to a fixed set before using it as a metric label.
  std::string_view method;
  unsigned status = 0;
  std::chrono::microseconds latency{0};  // from the request's first byte to the reply written
  std::string_view request_id;
};

// Metrics hooks. Called from I/O threads: implementations must be
// thread-safe, quick and must not block or throw.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void OnRequest(const RequestRecord& record) noexcept = 0;
  // A connection was accepted (and counted) or refused because of the cap.
  virtual void OnConnectionOpened() noexcept {}
  virtual void OnConnectionClosed() noexcept {}
  virtual void OnConnectionRejected() noexcept {}
  // A TLS handshake failed (wrong protocol version, no or bad client certificate, ...).
  virtual void OnHandshakeFailed() noexcept {}
};

}  // namespace kmsd::http
