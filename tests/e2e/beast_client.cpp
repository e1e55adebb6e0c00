#include "tests/e2e/beast_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace kmsd::e2e {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

Reply Send(std::uint16_t port, const Call& call) {
  Reply reply;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> request;
    request.method_string(call.method);
    request.target(call.target);
    request.version(11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::connection, "close");
    if (!call.bearer.empty()) request.set(http::field::authorization, "Bearer " + call.bearer);
    if (!call.body.empty() && !call.content_type.empty()) {
      request.set(http::field::content_type, call.content_type);
    }
    // Extra fields are added, so a test can send a field twice; the ones the
    // client sets itself (Host, Connection, Content-Type) are replaced.
    for (const auto& [name, value] : call.headers) {
      if (beast::iequals(name, "host") || beast::iequals(name, "connection") ||
          beast::iequals(name, "content-type")) {
        request.set(name, value);
      } else {
        request.insert(name, value);
      }
    }
    request.body() = call.body;
    request.prepare_payload();
    http::write(stream, request);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    http::read(stream, buffer, parser);
    const auto& response = parser.get();
    reply.status = response.result_int();
    for (const auto& field : response) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.body = response.body();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::exception&) {
    reply.status = 0;
  }
  return reply;
}

}  // namespace kmsd::e2e
