// kmsd::http::Server — the HTTP/1.1 transport of the daemon.
//
// Threads: `io_threads` run Boost.Asio and never block; each complete request
// is handed to a Handler on one of `worker_threads`, and the reply is posted
// back to the connection's strand. At most one request per connection is in
// flight (no concurrent pipelining), so the connection cap also bounds the
// worker queue.
//
// Limits and deadlines are per request (see ServerConfig). Over the
// connection cap the server accepts and closes at once (the client sees an
// immediate EOF instead of waiting in the kernel's backlog).
//
// Thread-safety: Start, Stop and ReloadTls may be called from any one
// controlling thread; BoundPort and Stats from any thread after Start.
// The Handler and the Observer must outlive the Server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "daemon/http/handler.h"
#include "daemon/http/server_config.h"

namespace kmsd::http {

struct ServerStats {
  std::size_t open_connections = 0;
  std::uint64_t requests = 0;  // replies written, including transport errors
  std::uint64_t rejected_connections = 0;
  std::uint64_t handshake_failures = 0;
};

class Server {
 public:
  Server(ServerConfig config, Handler& handler, Observer* observer = nullptr);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Stop()

  // Validates the config (ValidateServerConfig), loads TLS material, binds
  // every listener and starts the threads. On error nothing is left running
  // or bound: kInvalidArgument for an unsafe config, an unusable TLS file or
  // an address that cannot be bound. Calling Start twice is kInternal.
  Status Start();

  // The port listener `index` is bound to (the kernel's choice for port 0);
  // 0 before Start, after Stop or for an unknown index.
  std::uint16_t BoundPort(std::size_t index) const;

  // Re-reads every TLS listener's certificate, key and client CA files (same
  // paths). New connections use the new material; existing connections keep
  // theirs. All or nothing: on error every listener keeps its old context and
  // the error names the file that failed.
  Status ReloadTls();

  // Graceful stop: stop accepting, close idle connections and those still
  // reading a request, let requests being handled finish and their replies
  // be written (with Connection: close), up to drain_timeout; then stop the
  // I/O threads and join the workers (which waits for handlers still running).
  // Idempotent.
  void Stop();

  ServerStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmsd::http
