#include "tests/integration/http/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kmsd::http::testing {
namespace {

int ConnectTcp(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{10, 0};  // bounds the blocking TLS handshake
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::optional<TestClient> TestClient::Plain(std::uint16_t port) {
  const int fd = ConnectTcp(port);
  if (fd < 0) return std::nullopt;
  return TestClient(fd, nullptr, nullptr);
}

std::optional<TestClient> TestClient::Tls(std::uint16_t port, const TlsOptions& o) {
  const int fd = ConnectTcp(port);
  if (fd < 0) return std::nullopt;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  TestClient client(fd, ctx, nullptr);  // owns fd and ctx from here on
  if (o.security_level_zero) {
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  if (o.min_version != 0) SSL_CTX_set_min_proto_version(ctx, o.min_version);
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx, o.max_version);
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) return std::nullopt;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_file(ctx, o.cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return std::nullopt;
    }
  }
  client.ssl_ = SSL_new(ctx);
  SSL_set_fd(client.ssl_, fd);
  SSL_set_tlsext_host_name(client.ssl_, "localhost");
  if (SSL_connect(client.ssl_) != 1) return std::nullopt;
  return client;
}

TestClient::TestClient(TestClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ctx_(std::exchange(other.ctx_, nullptr)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      pending_(std::move(other.pending_)) {}

TestClient::~TestClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool TestClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    long n = 0;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    } else {
      n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long TestClient::RecvSome(char* buf, std::size_t n,
                          std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
      if (ready == 0) return -2;
      if (ready < 0) return -1;
    }
    if (ssl_ == nullptr) {
      const long got = ::recv(fd_, buf, n, 0);
      return got < 0 ? -1 : got;
    }
    const int got = SSL_read(ssl_, buf, static_cast<int>(n));
    if (got > 0) return got;
    const int err = SSL_get_error(ssl_, got);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_WANT_READ) continue;  // a handshake message, no data yet
    return -1;
  }
}

std::optional<HttpReply> TestClient::Read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  std::size_t header_end;
  while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    const long n = RecvSome(buf, sizeof(buf), deadline);
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  HttpReply reply;
  const std::string head = pending_.substr(0, header_end);
  pending_.erase(0, header_end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12) return std::nullopt;
  reply.status = static_cast<unsigned>(std::stoul(status_line.substr(9, 3)));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    reply.headers[Lower(line.substr(0, colon))] = value;
  }
  const std::size_t length = std::stoul(
      reply.Header("content-length").empty() ? std::string("0") : reply.Header("content-length"));
  while (pending_.size() < length) {
    const long n = RecvSome(buf, sizeof(buf), deadline);
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  reply.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return reply;
}

std::optional<HttpReply> TestClient::Get(const std::string& target, const std::string& extra) {
  if (!Send("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n")) {
    return std::nullopt;
  }
  return Read();
}

std::optional<HttpReply> TestClient::Post(const std::string& target, const std::string& body,
                                          const std::string& extra) {
  if (!Send("POST " + target + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body)) {
    return std::nullopt;
  }
  return Read();
}

bool TestClient::WaitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const long n = RecvSome(buf, sizeof(buf), deadline);
    if (n == 0 || n == -1) return true;
    if (n == -2) return false;
    // Data (e.g. an error reply) before the close: keep reading.
  }
}

bool TestClient::Readable() {
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

std::string TestClient::ServerCertificateCn() const {
  if (ssl_ == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  return cn;
}

bool TestClient::SessionIsResumable() const {
  if (ssl_ == nullptr) return false;
  const SSL_SESSION* session = SSL_get_session(ssl_);
  return session != nullptr && SSL_SESSION_is_resumable(session) == 1;
}

}  // namespace kmsd::http::testing
