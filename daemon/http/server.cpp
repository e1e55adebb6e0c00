#include "daemon/http/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/http/connection.h"
#include "daemon/http/tls_context.h"

namespace kmsd::http {
namespace {

using TlsContextPtr = std::shared_ptr<net::ssl::context>;

// Accepts on one address and hands each socket to a new Connection.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, std::shared_ptr<ServerCore> core, std::size_t index,
           TlsContextPtr tls)
      : ioc_(ioc),
        core_(std::move(core)),
        index_(index),
        config_(core_->config.listeners[index]),
        tls_(std::move(tls)),
        acceptor_(net::make_strand(ioc)),
        retry_timer_(acceptor_.get_executor()) {}

  Status Open() {
    beast::error_code ec;
    const tcp::endpoint endpoint(net::ip::make_address(config_.address, ec), config_.port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("http.listeners[{}]: cannot listen on {} port {}", index_,
                                   config_.address, config_.port));
    }
    port_ = acceptor_.local_endpoint(ec).port();
    return {};
  }

  void Run() {
    net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

  std::uint16_t port() const { return port_; }
  const ListenerConfig& config() const { return config_; }

  void SetTls(TlsContextPtr tls) {
    std::lock_guard lock(tls_mu_);
    tls_ = std::move(tls);
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: back off briefly instead of spinning.
      spdlog::warn("http accept failed listener={} error={}", config_.name, ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    Admit(std::move(socket));
    Accept();
  }

  void Admit(tcp::socket socket) {
    beast::error_code ignored;
    if (core_->stopping.load()) return;  // the socket closes as it goes out of scope
    if (!core_->TryOpenConnection()) {
      core_->rejected_connections.fetch_add(1);
      if (core_->observer != nullptr) core_->observer->OnConnectionRejected();
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    TlsContextPtr tls;
    {
      std::lock_guard lock(tls_mu_);
      tls = tls_;  // the connection keeps this context even if a reload swaps it
    }
    std::shared_ptr<ConnectionBase> connection;
    try {
      if (tls) {
        auto c = std::make_shared<Connection<true>>(core_, config_.name, std::move(socket), tls);
        c->Start();
        connection = std::move(c);
      } else {
        auto c =
            std::make_shared<Connection<false>>(core_, config_.name, std::move(socket), nullptr);
        c->Start();
        connection = std::move(c);
      }
    } catch (const std::exception&) {
      // Construction failed (e.g. SSL_new out of memory): the slot was never
      // handed to a Connection, so release it here.
      if (!connection) core_->Release(0);
      spdlog::error("http cannot set up a connection listener={}", config_.name);
    }
  }

  net::io_context& ioc_;
  std::shared_ptr<ServerCore> core_;
  std::size_t index_;
  const ListenerConfig& config_;
  std::mutex tls_mu_;
  TlsContextPtr tls_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::uint16_t port_ = 0;
};

}  // namespace

struct Server::Impl {
  Impl(ServerConfig c, Handler& h, Observer* o) : config(std::move(c)), handler(h), observer(o) {}

  ServerConfig config;
  Handler& handler;
  Observer* observer;
  std::mutex control_mu;  // serialises Start, Stop and ReloadTls
  bool started = false;
  bool stopped = false;
  std::shared_ptr<ServerCore> core;
  std::unique_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::vector<std::thread> io_threads;

  Result<std::vector<TlsContextPtr>> BuildTlsContexts() const {
    std::vector<TlsContextPtr> contexts;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      const auto& tls = config.listeners[i].tls;
      if (!tls) {
        contexts.emplace_back();
        continue;
      }
      auto context = BuildServerTlsContext(*tls);
      if (!context) {
        return MakeError(context.error().code,
                         fmt::format("http.listeners[{}].{}", i, context.error().message));
      }
      contexts.push_back(std::move(*context));
    }
    return contexts;
  }

  void StopLocked() {
    if (!started || stopped) return;
    stopped = true;
    core->stopping.store(true);
    for (auto& listener : listeners) listener->Close();
    core->RequestStopAll();
    const auto deadline = std::chrono::steady_clock::now() + config.drain_timeout;
    if (!core->WaitDrained(deadline)) {
      spdlog::warn("http stop: {} connections still open after the drain timeout",
                   core->OpenConnections());
    }
    work.reset();
    ioc->stop();
    for (auto& t : io_threads) t.join();
    io_threads.clear();
    // Queued tasks own connections whose sockets belong to the io_context:
    // drop them before the io_context goes.
    core->pool.Stop();
    listeners.clear();
    ioc.reset();
  }
};

Server::Server(ServerConfig config, Handler& handler, Observer* observer)
    : impl_(std::make_unique<Impl>(std::move(config), handler, observer)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  std::lock_guard lock(impl_->control_mu);
  Impl& s = *impl_;
  if (s.started) return MakeError(ErrorCode::kInternal, "http server already started");
  if (auto status = ValidateServerConfig(s.config); !status) return status;
  auto contexts = s.BuildTlsContexts();
  if (!contexts) return contexts.error();

  auto core = std::make_shared<ServerCore>(s.config, s.handler, s.observer);
  auto ioc = std::make_unique<net::io_context>(static_cast<int>(s.config.io_threads));
  std::vector<std::shared_ptr<Listener>> listeners;
  for (std::size_t i = 0; i < s.config.listeners.size(); ++i) {
    auto listener = std::make_shared<Listener>(*ioc, core, i, (*contexts)[i]);
    if (auto status = listener->Open(); !status) return status;
    listeners.push_back(std::move(listener));
  }

  s.core = std::move(core);
  s.ioc = std::move(ioc);
  s.listeners = std::move(listeners);
  s.work.emplace(s.ioc->get_executor());
  for (auto& listener : s.listeners) {
    listener->Run();
    const auto& lc = listener->config();
    spdlog::info("http listening listener={} address={} port={} tls={} mutual_tls={}", lc.name,
                 lc.address, listener->port(), lc.tls.has_value(),
                 lc.tls.has_value() && lc.tls->require_client_certificate);
  }
  for (std::size_t i = 0; i < s.config.io_threads; ++i) {
    s.io_threads.emplace_back([ioc = s.ioc.get()] { ioc->run(); });
  }
  s.started = true;
  return {};
}

std::uint16_t Server::BoundPort(std::size_t index) const {
  if (index >= impl_->listeners.size()) return 0;
  return impl_->listeners[index]->port();
}

Status Server::ReloadTls() {
  std::lock_guard lock(impl_->control_mu);
  Impl& s = *impl_;
  if (!s.started || s.stopped) return MakeError(ErrorCode::kInternal, "http server not running");
  auto contexts = s.BuildTlsContexts();
  if (!contexts) {
    spdlog::warn("http tls reload refused, keeping the current certificates: {}",
                 contexts.error().message);
    return contexts.error();
  }
  for (std::size_t i = 0; i < s.listeners.size(); ++i) {
    if ((*contexts)[i]) s.listeners[i]->SetTls(std::move((*contexts)[i]));
  }
  spdlog::info("http tls material reloaded");
  return {};
}

void Server::Stop() {
  std::lock_guard lock(impl_->control_mu);
  impl_->StopLocked();
}

ServerStats Server::Stats() const {
  const auto& core = impl_->core;
  if (!core) return {};
  return ServerStats{core->OpenConnections(), core->requests.load(),
                     core->rejected_connections.load(), core->handshake_failures.load()};
}

}  // namespace kmsd::http
