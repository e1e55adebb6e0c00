// One HTTP/1.1 connection to the daemon, plain or TLS, used by one thread at
// a time (Client keeps a pool of them). Beast stays behind this header.
//
// Every step (resolve+connect, TLS handshake, write, read) has a deadline; a
// step that misses it fails with ClientError::kTimeout and the connection is
// dead. TLS verifies the server's chain against ca_file (or the system store
// when empty) and its name against the URL's host; a client certificate and
// key are presented when both files are given (mutual TLS).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cli/client/error.h"
#include "cli/client/url.h"

namespace kmsd::client {

struct TlsOptions {
  std::string ca_file;    // PEM bundle of trusted CAs; empty = system default paths
  std::string cert_file;  // client certificate chain (PEM), for mutual TLS
  std::string key_file;   // its private key (PEM)
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
};

// TLS settings shared by every connection of a Client; immutable once built.
class TlsSettings {
 public:
  // kInvalidArgument when a file cannot be loaded (message names the option,
  // not the file's contents), or when only one of cert_file/key_file is set.
  static CallResult<std::shared_ptr<TlsSettings>> Create(const TlsOptions& options);
  ~TlsSettings();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsSettings(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class HttpConnection {
 public:
  // Connects (and handshakes, for https). tls must be set for an https URL.
  static CallResult<std::unique_ptr<HttpConnection>> Open(const BaseUrl& url,
                                                          std::shared_ptr<TlsSettings> tls,
                                                          std::chrono::milliseconds timeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its reply. `bearer` may be empty. The reply
  // body is limited to 16 MiB. On any failure the connection is dead.
  // `nothing_received` is set when resending is safe: the request could not
  // be sent, or (GET/PUT/DELETE only) the connection closed before any byte of
  // the reply arrived (a stale keep-alive connection).
  CallResult<HttpResponse> RoundTrip(std::string_view method, std::string_view target,
                                     std::string_view body, std::string_view bearer,
                                     std::chrono::milliseconds timeout, bool* nothing_received);

  // False once the peer asked to close, or after a failure.
  bool reusable() const;

  struct Impl;

 private:
  explicit HttpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmsd::client
