#include "cli/client/client.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <random>
#include <thread>

#include "common/base64.h"
#include "common/json/strict_json.h"

namespace kmsd::client {
namespace {

ClientError Protocol(std::string message) {
  return ClientError{ClientError::Kind::kProtocol, 0, {}, std::move(message), {}, 1, {}};
}

void Wipe(std::string& text) {
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

std::string ScopeFor(const BaseUrl& url, const Secret& token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(token.expose().data(), token.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string scope = url.text + "#";
  for (unsigned i = 0; i < 16 && i < size; ++i) {
    scope += kHex[digest[i] >> 4];
    scope += kHex[digest[i] & 0xf];
  }
  return scope;
}

std::chrono::milliseconds Backoff(const RetryPolicy& policy, unsigned attempt,
                                  std::string_view retry_after) {
  auto base = policy.initial_backoff;
  for (unsigned i = 1; i < attempt && base < policy.max_backoff; ++i) base *= 2;
  base = std::min(base, policy.max_backoff);
  // Full jitter in [base/2, base]: clients that failed together do not retry
  // together.
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto half = base.count() / 2;
  auto wait = std::chrono::milliseconds(
      half + (half > 0 ? static_cast<std::int64_t>(rng() % static_cast<unsigned>(half + 1)) : 0));
  unsigned seconds = 0;
  const auto [end, ec] =
      std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
  if (ec == std::errc{} && end == retry_after.data() + retry_after.size()) {
    wait = std::max(wait, std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds),
                                                              policy.max_backoff));
  }
  return wait;
}

std::string StringField(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr) return {};
  if (const auto* s = value->if_string()) return std::string(*s);
  return boost::json::serialize(*value);
}

}  // namespace

ClientError ErrorFromReply(int status, std::string_view body) {
  ClientError error{ClientError::Kind::kHttp, status, {}, {}, {}, 1, {}};
  auto parsed = json::ParseStrictJson(body);
  if (parsed && parsed->is_object()) {
    if (const auto* e = parsed->as_object().if_contains("error"); e && e->is_object()) {
      error.code = StringField(e->as_object(), "code");
      error.message = StringField(e->as_object(), "message");
      error.rule = StringField(e->as_object(), "rule");
      if (const auto* list = e->as_object().if_contains("problems"); list && list->is_array()) {
        for (const auto& item : list->as_array()) {
          if (!item.is_object()) continue;
          const auto& p = item.as_object();
          error.problems.push_back(StringField(p, "path") + ": " + StringField(p, "message") +
                                   " (" + StringField(p, "code") + ")");
        }
      }
    }
  }
  return error;
}

Client::Client(ClientOptions options, BaseUrl url, std::shared_ptr<TlsSettings> tls)
    : options_(std::move(options)), url_(std::move(url)), tls_(std::move(tls)) {
  cache_scope_ =
      options_.cache_scope.empty() ? ScopeFor(url_, options_.bearer_token) : options_.cache_scope;
}

Client::~Client() = default;

CallResult<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto url = ParseBaseUrl(options.url);
  if (!url) return url.error();
  // A bearer token is visible ASCII (RFC 6750 b64token): anything else, a
  // line break above all, would reshape the request's header.
  const std::string_view token = options.bearer_token.expose_chars();
  if (std::any_of(token.begin(), token.end(), [](char c) { return c < 0x21 || c > 0x7e; })) {
    ClientError error;
    error.kind = ClientError::Kind::kInvalidArgument;
    error.message = "the bearer token holds a space or a control character";
    return error;
  }
  if (options.retry.max_attempts == 0) options.retry.max_attempts = 1;
  std::shared_ptr<TlsSettings> tls;
  if (url->tls) {
    auto created = TlsSettings::Create(options.tls);
    if (!created) return created.error();
    tls = std::move(*created);
  }
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(*url), std::move(tls)));
}

CallResult<HttpResponse> Client::SendOnce(std::string_view method, const std::string& target,
                                          std::string_view body) {
  std::unique_ptr<HttpConnection> connection;
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  const bool reused = connection != nullptr;
  for (int round = 0; round < 2; ++round) {
    if (!connection) {
      auto opened = HttpConnection::Open(url_, tls_, options_.connect_timeout);
      if (!opened) return opened.error();
      connection = std::move(*opened);
    }
    bool nothing_received = false;
    auto reply = connection->RoundTrip(method, target, body, options_.bearer_token.expose_chars(),
                                       options_.request_timeout, &nothing_received);
    if (!reply) {
      // A kept-alive connection the daemon closed meanwhile: resend once on a
      // fresh one. A fresh connection that fails is a real failure.
      if (reused && round == 0 && nothing_received) {
        connection.reset();
        continue;
      }
      return reply.error();
    }
    if (connection->reusable()) {
      std::lock_guard lock(pool_mutex_);
      if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));
    }
    return reply;
  }
  return Protocol("unreachable");
}

CallResult<HttpResponse> Client::Call(std::string_view method, std::string_view path,
                                      std::string_view body) {
  const std::string target = url_.prefix + std::string(path);
  for (unsigned attempt = 1;; ++attempt) {
    auto reply = SendOnce(method, target, body);
    if (!reply) {
      auto error = reply.error();
      error.attempts = attempt;
      return error;
    }
    if (reply->status >= 200 && reply->status < 300) return reply;
    if (reply->status == 503 && attempt < options_.retry.max_attempts) {
      Wipe(reply->body);
      std::this_thread::sleep_for(Backoff(options_.retry, attempt, reply->retry_after));
      continue;
    }
    auto error = ErrorFromReply(reply->status, reply->body);
    error.attempts = attempt;
    Wipe(reply->body);
    return error;
  }
}

CallResult<boost::json::value> Client::CallJson(std::string_view method, std::string_view path,
                                                std::string_view body) {
  auto reply = Call(method, path, body);
  if (!reply) return reply.error();
  if (reply->body.empty()) return boost::json::value{};
  auto parsed = json::ParseStrictJson(reply->body);
  if (!parsed) return Protocol("the reply is not valid JSON");
  return std::move(*parsed);
}

CallResult<DataKey> Client::ParseKeyReply(HttpResponse& reply, bool generate) {
  auto parsed = json::ParseStrictJson(reply.body);
  Wipe(reply.body);
  if (!parsed || !parsed->is_object()) return Protocol("the key reply is not a JSON object");
  auto& object = parsed->as_object();
  auto* key = object.if_contains("plaintext_key");
  if (key == nullptr || !key->is_string()) return Protocol("the key reply has no plaintext_key");
  auto& key_text = key->as_string();
  auto secret = Base64DecodeSecret(std::string_view(key_text.data(), key_text.size()));
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (!secret) return Protocol("the key reply's plaintext_key is not base64");
  DataKey out;
  out.context_id = StringField(object, "context_id");
  if (out.context_id.empty()) return Protocol("the key reply has no context_id");
  out.plaintext_key = std::move(*secret);
  out.created_at = StringField(object, "created_at");
  if (generate) {
    out.key_version = StringField(object, "key_version");
  } else {
    out.asset_type = StringField(object, "asset_type");
    out.asset_id = StringField(object, "asset_id");
  }
  return out;
}

CallResult<DataKey> Client::GenerateDataKey(const GenerateRequest& request) {
  boost::json::object body{{"asset_type", request.asset_type}, {"asset_id", request.asset_id}};
  if (request.context_id) body["context_id"] = *request.context_id;
  if (request.encryption_context) body["encryption_context"] = *request.encryption_context;
  auto reply = Call("POST", "/v1/datakeys", boost::json::serialize(body));
  if (!reply) return reply.error();
  return ParseKeyReply(*reply, true);
}

CallResult<DataKey> Client::DecryptDataKey(std::string_view context_id,
                                           std::string_view authorization_token) {
  const auto& cache = options_.key_cache;
  if (cache) {
    if (auto hit = cache->Get(cache_scope_, context_id)) {
      DataKey out;
      out.context_id = std::string(context_id);
      out.plaintext_key = std::move(*hit);
      out.from_cache = true;
      return out;
    }
  }
  std::string body = boost::json::serialize(boost::json::object{
      {"context_id", context_id}, {"authorization_token", authorization_token}});
  auto reply = Call("POST", "/v1/datakeys/decrypt", body);
  Wipe(body);
  if (!reply) return reply.error();
  auto key = ParseKeyReply(*reply, false);
  if (key && cache) cache->Put(cache_scope_, key->context_id, key->plaintext_key);
  return key;
}

CallResult<boost::json::value> Client::GetRecord(std::string_view context_id) {
  return CallJson("GET", "/v1/records/" + EscapePathSegment(context_id), {});
}

CallResult<void> Client::DestroyRecord(std::string_view context_id) {
  if (options_.key_cache) options_.key_cache->Erase(cache_scope_, context_id);
  auto reply = Call("DELETE", "/v1/records/" + EscapePathSegment(context_id), {});
  if (!reply) return reply.error();
  return {};
}

CallResult<boost::json::value> Client::GetPolicy() { return CallJson("GET", "/v1/policy", {}); }

CallResult<boost::json::value> Client::PutPolicy(std::string_view policy_json) {
  return CallJson("PUT", "/v1/policy", policy_json);
}

CallResult<boost::json::value> Client::EvaluatePolicy(std::string_view facts_json) {
  return CallJson("POST", "/v1/policy/evaluate", facts_json);
}

CallResult<boost::json::value> Client::ListKeys() { return CallJson("GET", "/v1/keys", {}); }

CallResult<boost::json::value> Client::RotateKey() {
  return CallJson("POST", "/v1/keys/rotate", "{}");
}

CallResult<boost::json::value> Client::ListAudit(std::uint64_t after, std::uint32_t limit) {
  return CallJson(
      "GET", "/v1/audit?after=" + std::to_string(after) + "&limit=" + std::to_string(limit), {});
}

}  // namespace kmsd::client
