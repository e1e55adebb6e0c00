// kmsd::client::Client: the C++ client of kmsd's HTTP contract (v1), for
// kmsctl and for services such as a media server that link it.
//
// Calls map one to one onto the contract's routes (../shared/DESIGN.md).
// Plaintext keys come back as Secrets, decoded from base64 straight into
// wiping memory; the reply bytes that carried them are wiped.
//
// Failures are CallResult errors (ClientError), never exceptions:
//   kHttp      the daemon's status, contract code, message and rule
//   kConnect / kTimeout / kTls   the daemon could not be reached or trusted
//   kProtocol  a reply that is not the contract's JSON
//   kInvalidArgument  bad options or arguments (checked before sending)
// A 503 (hsm_unavailable, store_unavailable: the contract says nothing was
// half-written) is retried with exponential backoff and jitter, up to
// RetryPolicy::max_attempts sends in all; nothing else is retried, so a POST
// is never repeated after the daemon may have acted on it. The one exception
// is a kept-alive connection that the daemon had already closed: a request
// that could not be sent, or a GET/PUT/DELETE whose connection closed before
// any reply byte arrived, is sent once more on a new connection (not counted
// as an attempt). A POST whose reply was lost is a kConnect error.
//
// Thread-safe: calls may run concurrently; each takes a connection from a
// small pool (keep-alive) or opens one.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/client/error.h"
#include "cli/client/http_connection.h"
#include "cli/client/key_cache.h"
#include "cli/client/url.h"
#include "common/secret.h"

namespace kmsd::client {

struct RetryPolicy {
  unsigned max_attempts = 4;  // sends in all, >= 1
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{3000};
};

struct ClientOptions {
  std::string url = "http://127.0.0.1:8200";
  Secret bearer_token;  // empty: no Authorization header
  TlsOptions tls;       // used for https URLs only
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  RetryPolicy retry;
  std::size_t max_idle_connections = 4;
  // Optional plaintext-key cache, consulted by DecryptDataKey only. May be
  // shared by several Clients (the scope keeps them apart).
  std::shared_ptr<KeyCache> key_cache;
  // The cache scope; empty = this URL and a SHA-256 of the bearer token.
  std::string cache_scope;
};

struct GenerateRequest {
  std::string asset_type;
  std::string asset_id;
  std::optional<std::string> context_id;  // absent: the daemon generates one
  std::optional<boost::json::object> encryption_context;
};

struct DataKey {
  std::string context_id;
  Secret plaintext_key;
  std::string asset_type;   // decrypt replies only
  std::string asset_id;     // decrypt replies only
  std::string created_at;   // RFC 3339
  std::string key_version;  // generate replies only, as the JSON text
  bool from_cache = false;
};

class Client {
 public:
  // kInvalidArgument for a bad URL or TLS files that cannot be loaded.
  static CallResult<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POST /v1/datakeys → 201.
  CallResult<DataKey> GenerateDataKey(const GenerateRequest& request);
  // POST /v1/datakeys/decrypt → 200; consults and fills the key cache.
  CallResult<DataKey> DecryptDataKey(std::string_view context_id,
                                     std::string_view authorization_token);

  CallResult<boost::json::value> GetRecord(std::string_view context_id);
  // DELETE /v1/records/{id} → 204; also drops the id from the key cache.
  CallResult<void> DestroyRecord(std::string_view context_id);
  CallResult<boost::json::value> GetPolicy();
  CallResult<boost::json::value> PutPolicy(std::string_view policy_json);
  CallResult<boost::json::value> EvaluatePolicy(std::string_view facts_json);
  CallResult<boost::json::value> ListKeys();
  CallResult<boost::json::value> RotateKey();
  CallResult<boost::json::value> ListAudit(std::uint64_t after, std::uint32_t limit);

  // Any route: method, path below the base URL (e.g. "/v1/keys"), JSON body.
  // A 2xx reply is returned as is; any other status is a kHttp error.
  CallResult<HttpResponse> Call(std::string_view method, std::string_view path,
                                std::string_view body);

  const BaseUrl& url() const { return url_; }
  const std::string& cache_scope() const { return cache_scope_; }

 private:
  Client(ClientOptions options, BaseUrl url, std::shared_ptr<TlsSettings> tls);
  CallResult<HttpResponse> SendOnce(std::string_view method, const std::string& target,
                                    std::string_view body);
  CallResult<boost::json::value> CallJson(std::string_view method, std::string_view path,
                                          std::string_view body);
  CallResult<DataKey> ParseKeyReply(HttpResponse& reply, bool generate);

  ClientOptions options_;
  BaseUrl url_;
  std::shared_ptr<TlsSettings> tls_;
  std::string cache_scope_;
  std::mutex pool_mutex_;  // guards idle_
  std::vector<std::unique_ptr<HttpConnection>> idle_;
};

// The ClientError for a non-2xx reply: code/message/rule from the contract's
// {"error": {...}} body when it has one.
ClientError ErrorFromReply(int status, std::string_view body);

}  // namespace kmsd::client
