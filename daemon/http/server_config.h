// Configuration of the HTTP transport, with the defaults the daemon uses.
// Checked by ValidateServerConfig (called by Server::Start); see
// docs/http-server.md for the reasoning behind each default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace kmsd::http {

// TLS material by file path. The private key file is read into a wiping
// buffer; nothing from it is ever logged.
struct TlsConfig {
  std::string certificate_chain_file;  // PEM: leaf first, then intermediates
  std::string private_key_file;        // PEM, unencrypted
  // Mutual TLS: when true, a handshake without a certificate that verifies
  // against client_ca_file fails before any HTTP is read.
  bool require_client_certificate = false;
  std::string client_ca_file;  // PEM bundle; required when require_client_certificate
  // With require_client_certificate: when non-empty, the client certificate's
  // subject commonName must be one of these, else the handshake fails.
  std::vector<std::string> allowed_client_subject_cns;
};

struct ListenerConfig {
  std::string name = "api";           // reported in PeerInfo and metrics
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal
  std::uint16_t port = 0;             // 0: the kernel picks; see Server::BoundPort
  std::optional<TlsConfig> tls;       // absent: plain HTTP
};

struct ServerConfig {
  std::vector<ListenerConfig> listeners;

  std::size_t io_threads = 2;      // run Asio; never block
  std::size_t worker_threads = 8;  // run Handler::Handle (kmsd sets 64: see docs/http-server.md)

  std::size_t header_limit = 8 * 1024;  // bytes of request line + fields; over → 431 + close
  std::size_t body_limit = 64 * 1024;   // inclusive; over → 413 + close
  std::size_t max_connections = 1024;   // open connections across all listeners

  // Each is an absolute deadline for its phase, not reset per byte, so a
  // client trickling bytes cannot hold a connection open.
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS handshake
  std::chrono::milliseconds header_timeout{10'000};     // first byte → end of header
  std::chrono::milliseconds body_timeout{30'000};       // end of header → end of body
  std::chrono::milliseconds idle_timeout{60'000};       // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{30'000};      // writing one reply
  std::chrono::milliseconds drain_timeout{10'000};      // Stop(): wait for in-flight requests

  // Plain HTTP is refused on non-loopback addresses unless the caller sets
  // this (development only; the daemon's dev mode listens on loopback anyway).
  bool allow_insecure_plain_http = false;
};

// kInvalidArgument naming the offending listener or field when the config is
// unusable or unsafe: no listener, zero threads or limits, an unparsable
// address, plain HTTP on a non-loopback address without
// allow_insecure_plain_http, mutual TLS without a client CA, TLS without a
// certificate or key file. Does not read files.
Status ValidateServerConfig(const ServerConfig& config);

}  // namespace kmsd::http
