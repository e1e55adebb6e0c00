// State shared by the server, its listeners and its connections. Internal.
//
// Connections hold a shared_ptr to the core, so it outlives every connection
// even when the io_context destroys pending handlers after Stop().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "daemon/http/handler.h"
#include "daemon/http/server_config.h"
#include "daemon/http/worker_pool.h"

namespace kmsd::http {

// What Server::Stop() can ask of a live connection, from any thread.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Close now if idle or still reading a request; otherwise close after the
  // reply in flight has been written. Posts to the connection's strand.
  virtual void RequestStop() = 0;
};

struct ServerCore {
  ServerCore(const ServerConfig& c, Handler& h, Observer* o)
      : config(c), handler(h), observer(o), pool(c.worker_threads) {}

  const ServerConfig config;
  Handler& handler;
  Observer* const observer;  // may be null
  WorkerPool pool;

  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> rejected_connections{0};
  std::atomic<std::uint64_t> handshake_failures{0};

  // Reserves a connection slot; false when the cap is reached.
  bool TryOpenConnection() {
    std::size_t n = open_connections.load();
    do {
      if (n >= config.max_connections) return false;
    } while (!open_connections.compare_exchange_weak(n, n + 1));
    return true;
  }
  std::size_t OpenConnections() const { return open_connections.load(); }

  std::uint64_t Register(std::weak_ptr<ConnectionBase> connection) {
    std::lock_guard lock(mu);
    const std::uint64_t id = ++next_id;
    live.emplace(id, std::move(connection));
    return id;
  }
  // Frees the slot taken by TryOpenConnection and wakes a draining Stop().
  void Release(std::uint64_t id) {
    {
      std::lock_guard lock(mu);
      if (id != 0) live.erase(id);
      open_connections.fetch_sub(1);
    }
    drained.notify_all();
  }
  void RequestStopAll() {
    std::vector<std::shared_ptr<ConnectionBase>> alive;
    {
      std::lock_guard lock(mu);
      for (auto& [id, weak] : live) {
        if (auto c = weak.lock()) alive.push_back(std::move(c));
      }
    }
    // Outside the lock: dropping the last reference runs ~Connection → Release.
    for (auto& c : alive) c->RequestStop();
  }
  // True when every connection closed before the deadline.
  template <class TimePoint>
  bool WaitDrained(TimePoint deadline) {
    std::unique_lock lock(mu);
    return drained.wait_until(lock, deadline, [this] { return open_connections.load() == 0; });
  }

 private:
  std::atomic<std::size_t> open_connections{0};
  std::mutex mu;
  std::condition_variable drained;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<ConnectionBase>> live;
};

}  // namespace kmsd::http
