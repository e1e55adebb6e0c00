#include "cli/client/http_connection.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace kmsd::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxReplyBody = 16 * 1024 * 1024;

ClientError Failure(ClientError::Kind kind, std::string message) {
  return ClientError{kind, 0, {}, std::move(message), {}, 1, {}};
}

ClientError FromNetError(const beast::error_code& ec, std::string_view step) {
  if (ec == beast::error::timeout) {
    return Failure(ClientError::Kind::kTimeout, std::string(step) + " timed out");
  }
  if (ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated) {
    return Failure(ClientError::Kind::kTls, std::string(step) + " failed: " + ec.message());
  }
  // A reply Beast cannot parse is a protocol error; anything else (reset,
  // EOF, broken pipe, refused) means the daemon went away: unavailable.
  const auto kind = ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                            ec != http::error::end_of_stream
                        ? ClientError::Kind::kProtocol
                        : ClientError::Kind::kConnect;
  return Failure(kind, std::string(step) + " failed: " + ec.message());
}

}  // namespace

struct TlsSettings::Impl {
  ssl::context context{ssl::context::tls_client};
};

TlsSettings::TlsSettings(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsSettings::~TlsSettings() = default;

CallResult<std::shared_ptr<TlsSettings>> TlsSettings::Create(const TlsOptions& options) {
  auto impl = std::make_unique<Impl>();
  auto& ctx = impl->context;
  beast::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (options.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(options.ca_file, ec);
  }
  if (ec)
    return Failure(ClientError::Kind::kInvalidArgument, "cannot load the CA file (--ca-file)");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Failure(ClientError::Kind::kInvalidArgument,
                   "a client certificate needs both --cert-file and --key-file");
  }
  if (!options.cert_file.empty()) {
    ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) {
      return Failure(ClientError::Kind::kInvalidArgument,
                     "cannot load the client certificate (--cert-file)");
    }
    ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) {
      return Failure(ClientError::Kind::kInvalidArgument,
                     "cannot load the client key (--key-file) or it does not match the cert");
    }
  }
  return std::shared_ptr<TlsSettings>(new TlsSettings(std::move(impl)));
}

struct HttpConnection::Impl {
  asio::io_context io;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  std::shared_ptr<TlsSettings> tls;  // keeps the ssl::context alive
  std::string host_header;
  beast::flat_buffer buffer;
  bool reusable = true;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Runs the io_context until the operation started before it completes.
  void Run() {
    io.restart();
    io.run();
  }

  void Close() {
    reusable = false;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }
};

HttpConnection::HttpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpConnection::~HttpConnection() {
  if (impl_) impl_->Close();
}

bool HttpConnection::reusable() const { return impl_->reusable; }

CallResult<std::unique_ptr<HttpConnection>> HttpConnection::Open(
    const BaseUrl& url, std::shared_ptr<TlsSettings> tls, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->tls = tls;
  const bool ipv6 = url.host.find(':') != std::string::npos;
  impl->host_header = (ipv6 ? "[" + url.host + "]" : url.host) + ":" + url.port;
  if (url.tls) {
    if (!tls) return Failure(ClientError::Kind::kInvalidArgument, "https needs TLS settings");
    impl->secure.emplace(impl->io, tls->impl().context);
  } else {
    impl->plain.emplace(impl->io);
  }

  tcp::resolver resolver(impl->io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return FromNetError(ec, "resolve");

  auto& stream = impl->lowest();
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  impl->Run();
  if (ec) return FromNetError(ec, "connect");
  stream.socket().set_option(tcp::no_delay(true), ec);

  if (impl->secure) {
    auto& s = *impl->secure;
    boost::system::error_code addr_ec;
    asio::ip::make_address(url.host, addr_ec);
    // SNI only for names (RFC 6066 forbids IP literals); the name check covers
    // both: host_name_verification matches IP SANs for an address.
    if (addr_ec && !SSL_set_tlsext_host_name(s.native_handle(), url.host.c_str())) {
      return Failure(ClientError::Kind::kTls, "cannot set the TLS server name");
    }
    s.set_verify_callback(ssl::host_name_verification(url.host));
    stream.expires_after(timeout);
    s.async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    impl->Run();
    if (ec) return Failure(ClientError::Kind::kTls, "TLS handshake failed: " + ec.message());
  }
  return std::unique_ptr<HttpConnection>(new HttpConnection(std::move(impl)));
}

CallResult<HttpResponse> HttpConnection::RoundTrip(std::string_view method, std::string_view target,
                                                   std::string_view body, std::string_view bearer,
                                                   std::chrono::milliseconds timeout,
                                                   bool* nothing_received) {
  auto& impl = *impl_;
  *nothing_received = false;
  if (!impl.reusable) return Failure(ClientError::Kind::kProtocol, "connection closed");

  http::request<http::string_body> request;
  request.method(http::string_to_verb(method));
  request.target(target);
  request.version(11);
  request.set(http::field::host, impl.host_header);
  request.set(http::field::user_agent, "kmsd-client/1");
  request.set(http::field::accept, "application/json");
  if (!bearer.empty()) {
    std::string value = "Bearer ";
    value.append(bearer);
    request.set(http::field::authorization, value);
    OPENSSL_cleanse(value.data(), value.size());
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.keep_alive(true);
  request.prepare_payload();

  beast::error_code ec;
  impl.lowest().expires_after(timeout);
  auto on_write = [&](beast::error_code e, std::size_t) { ec = e; };
  if (impl.secure) {
    http::async_write(*impl.secure, request, on_write);
  } else {
    http::async_write(*impl.plain, request, on_write);
  }
  impl.Run();
  // The request body may hold JSON that names a key; wipe our copy.
  OPENSSL_cleanse(request.body().data(), request.body().size());
  if (ec) {
    *nothing_received = true;
    impl.Close();
    return FromNetError(ec, "send");
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBody);
  impl.lowest().expires_after(timeout);
  std::size_t received = 0;
  auto on_read = [&](beast::error_code e, std::size_t n) {
    ec = e;
    received = n;
  };
  if (impl.secure) {
    http::async_read(*impl.secure, impl.buffer, parser, on_read);
  } else {
    http::async_read(*impl.plain, impl.buffer, parser, on_read);
  }
  impl.Run();
  // The read buffer held the reply, maybe a plaintext key: wipe all of its
  // storage (after consume, prepare() hands back the buffer from its start).
  impl.buffer.consume(impl.buffer.size());
  const auto storage = impl.buffer.prepare(impl.buffer.capacity());
  OPENSSL_cleanse(storage.data(), storage.size());
  if (ec) {
    // The daemon may have read and acted on the request before the connection
    // broke: only an idempotent request may be resent after a failed read.
    const bool idempotent = method == "GET" || method == "PUT" || method == "DELETE";
    *nothing_received = idempotent && received == 0 &&
                        (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                         ec == asio::error::eof);
    impl.Close();
    return FromNetError(ec, "receive");
  }
  auto response = parser.release();
  if (!response.keep_alive()) impl.Close();
  HttpResponse out;
  out.status = static_cast<int>(response.result_int());
  out.body = std::move(response.body());
  if (const auto it = response.find(http::field::retry_after); it != response.end()) {
    out.retry_after = std::string(it->value());
  }
  return out;
}

}  // namespace kmsd::client
