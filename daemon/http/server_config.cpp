#include "daemon/http/server_config.h"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>

namespace kmsd::http {
namespace {

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Status ValidateListener(const ServerConfig& config, std::size_t index) {
  const ListenerConfig& l = config.listeners[index];
  const std::string where = fmt::format("http.listeners[{}]", index);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(l.address, ec);
  if (ec) return Invalid(where + ".address: not an IP address literal");
  if (!l.tls) {
    if (!address.is_loopback() && !config.allow_insecure_plain_http) {
      return Invalid(where + ": plain HTTP on a non-loopback address needs TLS");
    }
    return {};
  }
  if (l.tls->certificate_chain_file.empty()) {
    return Invalid(where + ".tls.certificate_chain_file: missing");
  }
  if (l.tls->private_key_file.empty()) return Invalid(where + ".tls.private_key_file: missing");
  if (l.tls->require_client_certificate && l.tls->client_ca_file.empty()) {
    return Invalid(where + ".tls.client_ca_file: mutual TLS needs a client CA");
  }
  return {};
}

}  // namespace

Status ValidateServerConfig(const ServerConfig& config) {
  if (config.listeners.empty()) return Invalid("http.listeners: at least one listener is needed");
  if (config.io_threads == 0) return Invalid("http.io_threads: must be at least 1");
  if (config.worker_threads == 0) return Invalid("http.worker_threads: must be at least 1");
  if (config.header_limit == 0) return Invalid("http.header_limit: must be positive");
  if (config.body_limit == 0) return Invalid("http.body_limit: must be positive");
  if (config.max_connections == 0) return Invalid("http.max_connections: must be positive");
  using std::chrono::milliseconds;
  for (auto [name, value] : {std::pair{"handshake_timeout", config.handshake_timeout},
                             std::pair{"header_timeout", config.header_timeout},
                             std::pair{"body_timeout", config.body_timeout},
                             std::pair{"idle_timeout", config.idle_timeout},
                             std::pair{"write_timeout", config.write_timeout}}) {
    if (value <= milliseconds::zero()) {
      return Invalid(fmt::format("http.{}: must be positive", name));
    }
  }
  if (config.drain_timeout < milliseconds::zero()) {
    return Invalid("http.drain_timeout: must not be negative");
  }
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    if (auto status = ValidateListener(config, i); !status) return status;
  }
  return {};
}

}  // namespace kmsd::http
