// FakeDaemon: a small HTTP/1.1 server (Boost.Beast) on 127.0.0.1:0 that
// answers like kmsd's contract as a test scripts it, and counts requests and
// connections. For testing kmsctl and kmsd_client's behaviour per status
// class (exit codes, retries, keep-alive) without a token or store; the real
// daemon is covered by kmsctl_e2e_test.
//
// One serving thread, connections served one after another (kmsctl and the
// client tests use one connection at a time). Keep-alive unless the reply
// says close. Thread-safe counters.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace kmsd::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string body;
  std::string authorization;
};

struct FakeReply {
  int status = 200;
  std::string body;
  bool close = false;
  bool drop = false;  // close the connection without replying
};

// Serve HTTPS instead of HTTP: the server's certificate chain and key (PEM),
// and, when client_ca_file is set, require a client certificate it signed.
struct FakeTls {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
};

class FakeDaemon {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;
  explicit FakeDaemon(Handler handler, std::optional<FakeTls> tls = std::nullopt);
  ~FakeDaemon();
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }

  // {"error": {"code": code, "message": "..."}}
  static std::string ErrorBody(const std::string& code);

 private:
  struct Impl;
  void Serve();
  template <class Stream>
  void ServeConnection(Stream& stream);
  std::unique_ptr<Impl> impl_;
  Handler handler_;
  bool tls_ = false;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// A TCP port on 127.0.0.1 with nothing listening (bound, then released).
unsigned short UnusedPort();

}  // namespace kmsd::testing
