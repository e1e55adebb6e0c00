#include "fake_daemon.h"

#include <boost/asio/ip/tcp.hpp>
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
};

FakeDaemon::FakeDaemon(Handler handler)
    : impl_(std::make_unique<Impl>()), handler_(std::move(handler)) {
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
    beast::flat_buffer buffer;
    while (true) {
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) break;
      ++requests_;
      FakeRequest in{std::string(request.method_string()), std::string(request.target()),
                     request.body(), std::string(request[http::field::authorization])};
      const FakeReply out = handler_(in);
      http::response<http::string_body> response{static_cast<http::status>(out.status), 11};
      response.set(http::field::content_type, "application/json");
      response.body() = out.body;
      response.keep_alive(!out.close && request.keep_alive());
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || !response.keep_alive()) break;
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

unsigned short UnusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace kmsd::testing
