// One client connection: TLS handshake (if any), then a loop of
// read request → worker pool → write reply, with a fresh parser, limits and
// deadlines per request. Internal to kmsd_http; knows nothing of what
// requests mean.
//
// Every member is touched only on the connection's strand; worker threads
// reach it solely through net::post.
#pragma once

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "daemon/http/request_id.h"
#include "daemon/http/server_core.h"
#include "daemon/http/tls_context.h"

namespace kmsd::http {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// The transport's own error replies use the contract's error body and carry
// Cache-Control: no-store.
Response TransportErrorResponse(unsigned status, std::string_view code, std::string_view message);

// Removes header values and bodies from memory once they are no longer needed
// (they may carry bearer tokens or key material).
void WipeString(std::string& s) noexcept;
void WipeRequest(Request& request) noexcept;

template <bool kTls>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  // The caller has reserved a slot with ServerCore::TryOpenConnection; the
  // destructor releases it.
  Connection(std::shared_ptr<ServerCore> core, std::string listener, tcp::socket socket,
             std::shared_ptr<net::ssl::context> tls)
      : core_(std::move(core)), tls_(std::move(tls)), stream_(MakeStream(std::move(socket))) {
    peer_.listener = std::move(listener);
  }

  ~Connection() override {
    if (core_->observer != nullptr) core_->observer->OnConnectionClosed();
    core_->Release(id_);
  }

  void Start() {
    beast::error_code ec;
    const auto remote = Lowest().socket().remote_endpoint(ec);
    if (!ec) {
      peer_.remote_address = remote.address().to_string();
      peer_.remote_port = remote.port();
    }
    // Registered only now: from here on Stop() may reach it from another thread.
    id_ = core_->Register(this->weak_from_this());
    if (core_->observer != nullptr) core_->observer->OnConnectionOpened();
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void RequestStop() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stop_requested_ = true;
      // A request being handled or answered finishes; its reply says close.
      if (self->phase_ != Phase::kHandling && self->phase_ != Phase::kWriting) self->CloseSocket();
    });
  }

 private:
  enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing, kClosed };
  static constexpr std::size_t kFirstReadBytes = 4096;
  static constexpr std::size_t kLingerBytes = 1024 * 1024;
  static constexpr std::chrono::seconds kLingerTimeout{2};

  Stream MakeStream(tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls_);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const ServerConfig& config() const { return core_->config; }

  void Begin() {
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      Lowest().expires_after(config().handshake_timeout);
      stream_.async_handshake(
          net::ssl::stream_base::server,
          beast::bind_front_handler(&Connection::OnHandshake, this->shared_from_this()));
    } else {
      WaitForRequest();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // No HTTP is read on a connection whose handshake failed.
      core_->handshake_failures.fetch_add(1);
      if (core_->observer != nullptr) core_->observer->OnHandshakeFailed();
      spdlog::debug("http tls handshake failed listener={} peer={} reason={}", peer_.listener,
                    peer_.remote_address, ec.message());
      CloseSocket();
      return;
    }
    peer_.tls = true;
    ReadPeerCertificate(stream_.native_handle(), peer_);
    WaitForRequest();
  }

  // Idle phase: wait (idle_timeout) for the first byte of the next request.
  void WaitForRequest() {
    if (stop_requested_ || core_->stopping.load()) {
      CloseSocket();
      return;
    }
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) {  // pipelined bytes already here
      BeginRequest();
      return;
    }
    Lowest().expires_after(config().idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Connection::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, std::size_t n) {
    if (ec) {
      CloseSocket();
      return;
    }
    buffer_.commit(n);
    BeginRequest();
  }

  // Header phase: one absolute deadline for the whole header, so a client
  // sending a byte every few seconds is cut off at header_timeout.
  void BeginRequest() {
    phase_ = Phase::kReading;
    started_ = std::chrono::steady_clock::now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config().header_limit));
    parser_->body_limit(static_cast<std::uint64_t>(config().body_limit));
    Lowest().expires_after(config().header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Connection::OnHeader, this->shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t header_bytes) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    // Beast enforces header_limit only while the end of the header is not yet
    // in the buffer; a whole header that arrived in one read (many fields of
    // modest size) is counted here, so the limit holds however it is sent.
    if (header_bytes > config().header_limit) {
      ReplyAndClose(431, "headers_too_large", "request header fields exceed the limit");
      return;
    }
    if (!OnlyChunkedTransferCoding(parser_->get())) {
      ReplyAndClose(501, "not_implemented",
                    "transfer codings other than chunked are not supported");
      return;
    }
    const auto expect = parser_->get()[bhttp::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      continue_.emplace(bhttp::status::continue_, parser_->get().version());
      Lowest().expires_after(config().write_timeout);
      bhttp::async_write(stream_, *continue_,
                         [self = this->shared_from_this()](beast::error_code wec, std::size_t) {
                           self->continue_.reset();
                           if (wec) {
                             self->CloseSocket();
                           } else {
                             self->ReadBody();
                           }
                         });
      return;
    }
    ReadBody();
  }

  // Body phase: its own absolute deadline, started when the header is done.
  void ReadBody() {
    if (parser_->is_done()) {
      Dispatch();
      return;
    }
    Lowest().expires_after(config().body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Connection::OnBody, this->shared_from_this()));
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    Dispatch();
  }

  void OnReadError(beast::error_code ec) {
    if (stop_requested_) {
      CloseSocket();
      return;
    }
    if (ec == bhttp::error::header_limit) {
      ReplyAndClose(431, "headers_too_large", "request header fields exceed the limit");
    } else if (ec == bhttp::error::body_limit) {
      ReplyAndClose(413, "payload_too_large", "request body exceeds the limit");
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
               ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      ReplyAndClose(400, "invalid_request", "malformed HTTP request");
    } else {
      CloseSocket();  // timeout, reset or the peer went away mid-request
    }
  }

  void ReplyAndClose(unsigned status, std::string_view code, std::string_view message) {
    const auto& partial = parser_->get();
    request_id_ = RequestIdFor(partial["X-Request-Id"]);  // empty unless the header was parsed
    method_ = parser_->is_header_done() ? std::string(partial.method_string()) : std::string();
    version_ = 11;
    keep_alive_ = false;
    parser_.reset();
    WriteResponse(TransportErrorResponse(status, code, message));
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.Add(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request_id_ = RequestIdFor(message["X-Request-Id"]);
    request.request_id = request_id_;
    request.peer = peer_;
    method_ = request.method;
    version_ = message.version();
    keep_alive_ = message.keep_alive();

    auto self = this->shared_from_this();
    const bool queued = core_->pool.Submit([self, request = std::move(request)]() mutable {
      Response response = self->CallHandler(request);
      WipeRequest(request);
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->WriteResponse(std::move(response));
      });
    });
    if (!queued) CloseSocket();  // the server is stopping
  }

  // Runs on a worker thread; touches no connection state.
  Response CallHandler(const Request& request) {
    try {
      return core_->handler.Handle(request);
    } catch (...) {
      spdlog::error("http handler failed request_id={}", request.request_id);
      return TransportErrorResponse(500, "internal", "internal error");
    }
  }

  static bool IsTransportHeader(std::string_view name) {
    return beast::iequals(name, "Content-Length") || beast::iequals(name, "Content-Type") ||
           beast::iequals(name, "Connection") || beast::iequals(name, "Transfer-Encoding") ||
           beast::iequals(name, "X-Request-Id");
  }
  // Beast undoes chunked framing only: a body sent as "gzip, chunked" would
  // reach the handler still encoded, read otherwise than by a proxy that
  // decodes it. So chunked, once, is the only transfer coding taken (RFC 9112
  // §6.1: 501 for a coding the server does not understand).
  static bool OnlyChunkedTransferCoding(const bhttp::fields& fields) {
    int codings = 0;
    for (const auto& field : fields) {
      if (field.name() != bhttp::field::transfer_encoding) continue;
      std::string_view value = field.value();
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (++codings > 1 || !beast::iequals(value, "chunked")) return false;
    }
    return true;
  }

  static bool IsSafeHeaderText(std::string_view s) {
    return s.find_first_of("\r\n", 0) == std::string_view::npos && s.find('\0') == s.npos;
  }

  void WriteResponse(Response response) {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kWriting;
    auto& res = response_.emplace();
    res.version(version_);
    res.result(response.status);
    res.set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers.fields()) {
      if (!IsTransportHeader(name) && IsSafeHeaderText(name) && IsSafeHeaderText(value)) {
        res.insert(name, value);
      }
    }
    res.set("X-Request-Id", request_id_);
    res.body() = std::move(response.body);
    res.keep_alive(keep_alive_ && !stop_requested_ && !core_->stopping.load());
    res.prepare_payload();
    status_ = response.status;
    Lowest().expires_after(config().write_timeout);
    bhttp::async_write(stream_, res,
                       beast::bind_front_handler(&Connection::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    core_->requests.fetch_add(1);
    if (core_->observer != nullptr) {
      core_->observer->OnRequest(
          RequestRecord{peer_.listener, method_, status_, latency, request_id_});
    }
    spdlog::debug("http reply request_id={} listener={} status={} latency_us={}", request_id_,
                  peer_.listener, status_, latency.count());
    const bool keep_alive = response_->keep_alive();
    WipeString(response_->body());
    response_.reset();
    if (ec) {
      CloseSocket();
    } else if (!keep_alive) {
      GracefulClose();
    } else {
      WaitForRequest();
    }
  }

  // Half-close, then read and discard what the client still sends for a
  // moment, so a reply (e.g. 413) is not lost to a TCP reset.
  void GracefulClose() {
    phase_ = Phase::kClosing;
    Lowest().expires_after(kLingerTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
    } else {
      beast::error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      buffer_.clear();
      Linger({}, 0);
    }
  }

  void Linger(beast::error_code ec, std::size_t n) {
    lingered_ += n;
    if (ec || lingered_ > kLingerBytes || stop_requested_) {
      CloseSocket();
      return;
    }
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Connection::Linger, this->shared_from_this()));
  }

  void CloseSocket() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  std::shared_ptr<ServerCore> core_;
  std::shared_ptr<net::ssl::context> tls_;  // before stream_: the stream refers to it
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  PeerInfo peer_;
  std::uint64_t id_ = 0;
  Phase phase_ = Phase::kIdle;
  bool stop_requested_ = false;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  unsigned status_ = 0;
  std::string method_;
  std::string request_id_;
  std::size_t lingered_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace kmsd::http
