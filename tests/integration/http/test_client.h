// A deliberately low-level HTTP/1.1 client for transport tests: raw sockets
// (so a test can send partial, slow or malformed bytes) and, for HTTPS, a
// raw OpenSSL client whose protocol versions and certificates the test picks.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kmsd::http::testing {

struct HttpReply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& lowercase_name) const {
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct TlsOptions {
  std::string ca_file;              // verify the server against it when set
  std::string cert_file, key_file;  // client certificate when set
  int min_version = 0;              // 0: library default
  int max_version = 0;
  bool security_level_zero = false;  // lets the client offer TLS 1.0/1.1
};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; nullopt when the TCP connect fails.
  static std::optional<TestClient> Plain(std::uint16_t port);
  // Connects and runs the TLS handshake; nullopt when either fails.
  static std::optional<TestClient> Tls(std::uint16_t port, const TlsOptions& options);

  TestClient(TestClient&& other) noexcept;
  TestClient& operator=(TestClient&&) = delete;
  ~TestClient();

  bool Send(std::string_view bytes);
  // Reads one Content-Length delimited reply; nullopt on timeout, close or error.
  std::optional<HttpReply> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::optional<HttpReply> Get(const std::string& target, const std::string& extra_headers = "");
  std::optional<HttpReply> Post(const std::string& target, const std::string& body,
                                const std::string& extra_headers = "");
  // True when the server closes the connection (EOF or reset) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);
  // True when at least one byte (or EOF) is ready right now.
  bool Readable();
  // Subject CN of the certificate the server presented (TLS only).
  std::string ServerCertificateCn() const;
  // True when the server gave this connection something to resume it with
  // (a TLS 1.3 session ticket; a TLS 1.2 session id).
  bool SessionIsResumable() const;
  int fd() const { return fd_; }

 private:
  TestClient(int fd, SSL_CTX* ctx, SSL* ssl) : fd_(fd), ctx_(ctx), ssl_(ssl) {}
  // >0 bytes, 0 closed, -1 error, -2 timeout.
  long RecvSome(char* buf, std::size_t n, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

}  // namespace kmsd::http::testing
