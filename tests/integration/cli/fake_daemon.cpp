#include "fake_daemon.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kmsd::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct FakeDaemon::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  asio::ssl::context ssl{asio::ssl::context::tls_server};
};

FakeDaemon::FakeDaemon(Handler handler, std::optional<FakeTls> tls)
    : impl_(std::make_unique<Impl>()), handler_(std::move(handler)), tls_(tls.has_value()) {
  if (tls) {
    impl_->ssl.use_certificate_chain_file(tls->cert_file);
    impl_->ssl.use_private_key_file(tls->key_file, asio::ssl::context::pem);
    if (!tls->client_ca_file.empty()) {
      impl_->ssl.load_verify_file(tls->client_ca_file);
      impl_->ssl.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
  }
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] { Serve(); });
}

FakeDaemon::~FakeDaemon() {
  stopping_ = true;
  // Wake the blocking accept with a connection of our own.
  beast::error_code ec;
  asio::io_context io;
  tcp::socket poke(io);
  poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  thread_.join();
}

std::string FakeDaemon::ErrorBody(const std::string& code) {
  return R"({"error":{"code":")" + code + R"(","message":"scripted by the test"}})";
}

void FakeDaemon::Serve() {
  while (!stopping_) {
    beast::error_code ec;
    tcp::socket socket(impl_->io);
    impl_->acceptor.accept(socket, ec);
    if (ec || stopping_) continue;
    ++connections_;
    if (tls_) {
      asio::ssl::stream<tcp::socket&> secure(socket, impl_->ssl);
      secure.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) ServeConnection(secure);
    } else {
      ServeConnection(socket);
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

template <class Stream>
void FakeDaemon::ServeConnection(Stream& stream) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  while (true) {
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    ++requests_;
    FakeRequest in{std::string(request.method_string()), std::string(request.target()),
                   request.body(), std::string(request[http::field::authorization])};
    const FakeReply out = handler_(in);
    if (out.drop) return;
    http::response<http::string_body> response{static_cast<http::status>(out.status), 11};
    response.set(http::field::content_type, "application/json");
    response.body() = out.body;
    response.keep_alive(!out.close && request.keep_alive());
    response.prepare_payload();
    http::write(stream, response, ec);
    if (ec || !response.keep_alive()) return;
  }
}

unsigned short UnusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace kmsd::testing
