// The /v1 route functions of ApiHandler: request body -> broker call -> reply.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>

#include "daemon/api/body_json.h"
#include "daemon/api/handler_impl.h"
#include "policy/facts_json.h"

namespace kmsd::api {
namespace {

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalidArgument, message); }

std::string Quoted(std::string_view text) {
  return boost::json::serialize(boost::json::string(text));
}

// `prefix` + base64(key) + `suffix`, built in one buffer reserved up front so
// no reallocation leaves a copy of the key in freed memory; the transport
// wipes the body after writing it.
std::string BodyWithKey(std::string_view prefix, const Secret& key, std::string_view suffix) {
  const auto bytes = key.expose();
  const std::size_t encoded = 4 * ((bytes.size() + 2) / 3);
  std::string body;
  body.reserve(prefix.size() + encoded + 1 + suffix.size());
  body.append(prefix);
  const std::size_t at = body.size();
  body.resize(at + encoded + 1);  // EVP_EncodeBlock writes a trailing NUL
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(body.data() + at), bytes.data(),
                  static_cast<int>(bytes.size()));
  body.resize(at + encoded);
  body.append(suffix);
  return body;
}

boost::json::object KekJson(const store::KekVersionInfo& info) {
  return {{"version", info.version},
          {"state", store::KekStateName(info.state)},
          {"created_at", FormatRfc3339(info.created_at)},
          {"wraps_reserved", info.wraps_reserved}};
}

boost::json::object AuditEventJson(const audit::AuditEvent& e) {
  boost::json::object o{{"seq", e.seq},
                        {"time", FormatRfc3339(e.time)},
                        {"tenant", e.tenant},
                        {"principal", e.principal},
                        {"operation", audit::OperationName(e.operation)},
                        {"decision", audit::DecisionName(e.decision)},
                        {"outcome", audit::OutcomeName(e)},
                        {"request_id", e.request_id}};
  if (!e.context_id.empty()) o["context_id"] = e.context_id;
  if (!e.asset_type.empty()) o["asset_type"] = e.asset_type;
  if (!e.asset_id.empty()) o["asset_id"] = e.asset_id;
  if (!e.rule.empty()) o["rule"] = e.rule;
  if (e.policy_version != 0) o["policy_version"] = e.policy_version;
  if (!e.reason.empty()) o["reason"] = e.reason;
  return o;
}

Result<std::uint64_t> ParseUnsigned(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 20) return Invalid("query parameter must be a number");
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Invalid("query parameter must be a number");
  }
  return value;
}

Status RequireNoBody(const http::Request& request) {
  if (!request.body.empty()) return Invalid("this route takes no request body");
  return {};
}

}  // namespace

http::Response ApiHandler::Impl::Generate(const http::Request& request,
                                          const broker::Caller& caller) {
  if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
  auto body = BodyObject::Parse(request.body,
                                {"asset_type", "asset_id", "context_id", "encryption_context"});
  if (!body) return ErrorReply(body.error());
  broker::GenerateRequest generate;
  auto asset_type = body->RequiredString("asset_type");
  if (!asset_type) return ErrorReply(asset_type.error());
  auto asset_id = body->RequiredString("asset_id");
  if (!asset_id) return ErrorReply(asset_id.error());
  auto context_id = body->OptionalString("context_id");
  if (!context_id) return ErrorReply(context_id.error());
  // Validated and bounded, but not stored or bound yet: the broker has no
  // field for it (docs/api.md).
  if (const auto* context = body->Find("encryption_context")) {
    if (auto parsed = ParseEncryptionContext(*context); !parsed) {
      return ErrorReply(parsed.error());
    }
  }
  generate.asset_type = std::move(*asset_type);
  generate.asset_id = std::move(*asset_id);
  generate.context_id = std::move(*context_id);

  auto reply = Timed("generate", [&] { return deps.broker.Generate(caller, generate); });
  if (!reply) {
    if (reply.error().code == ErrorCode::kPolicyDenied) {
      metrics->RecordPolicyDenial(reply.error().rule);
    }
    if (reply.error().code == ErrorCode::kInvalidAuthorizationToken) {
      // The verifier's message names a category (expired, wrong ctx, replay),
      // never token bytes: operators need it to tell a clock skew from an attack.
      spdlog::warn("authorization token refused request_id={} tenant={} reason={}",
                   request.request_id, caller.tenant, reply.error().message);
    }
    return ErrorReply(reply.error());
  }
  const std::string prefix =
      R"({"context_id":)" + Quoted(reply->context_id) + R"(,"plaintext_key":")";
  const std::string suffix = R"(","key_version":)" + std::to_string(reply->key_version) +
                             R"(,"created_at":)" + Quoted(FormatRfc3339(reply->created_at)) + "}";
  return http::NoStoreReply(201, BodyWithKey(prefix, reply->plaintext_key, suffix));
}

http::Response ApiHandler::Impl::Decrypt(const http::Request& request,
                                         const broker::Caller& caller) {
  if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
  auto body = BodyObject::Parse(request.body, {"context_id", "authorization_token"});
  if (!body) return ErrorReply(body.error());
  broker::DecryptRequest decrypt;
  auto context_id = body->RequiredString("context_id");
  if (!context_id) return ErrorReply(context_id.error());
  auto token = body->RequiredString("authorization_token");
  if (!token) return ErrorReply(token.error());
  decrypt.context_id = std::move(*context_id);
  decrypt.authorization_token = std::move(*token);

  auto reply = Timed("decrypt", [&] { return deps.broker.Decrypt(caller, decrypt); });
  // The authorization token is single-use, but still a credential until then.
  OPENSSL_cleanse(decrypt.authorization_token.data(), decrypt.authorization_token.size());
  if (!reply) {
    if (reply.error().code == ErrorCode::kPolicyDenied) {
      metrics->RecordPolicyDenial(reply.error().rule);
    }
    if (reply.error().code == ErrorCode::kInvalidAuthorizationToken) {
      // The verifier's message names a category (expired, wrong ctx, replay),
      // never token bytes: operators need it to tell a clock skew from an attack.
      spdlog::warn("authorization token refused request_id={} tenant={} reason={}",
                   request.request_id, caller.tenant, reply.error().message);
    }
    return ErrorReply(reply.error());
  }
  const std::string prefix =
      R"({"context_id":)" + Quoted(reply->context_id) + R"(,"plaintext_key":")";
  const std::string suffix = R"(","asset_type":)" + Quoted(reply->asset_type) + R"(,"asset_id":)" +
                             Quoted(reply->asset_id) + R"(,"created_at":)" +
                             Quoted(FormatRfc3339(reply->created_at)) + "}";
  return http::NoStoreReply(200, BodyWithKey(prefix, reply->plaintext_key, suffix));
}

http::Response ApiHandler::Impl::Record(const http::Request& request, const broker::Caller& caller,
                                        std::string_view tail) {
  if (auto ok = RequireNoBody(request); !ok) return ErrorReply(ok.error());
  auto context_id = DecodeContextId(tail);
  if (!context_id) return ErrorReply(context_id.error());
  if (request.method == "DELETE") {
    auto done =
        Timed("destroy_record", [&] { return deps.broker.DestroyRecord(caller, *context_id); });
    if (!done) return ErrorReply(done.error());
    auto response = http::NoStoreReply(204, "");
    return response;
  }
  auto info = Timed("get_record", [&] { return deps.broker.GetRecord(caller, *context_id); });
  if (!info) return ErrorReply(info.error());
  boost::json::object o{
      {"context_id", info->context_id},   {"asset_type", info->asset_type},
      {"asset_id", info->asset_id},       {"created_at", FormatRfc3339(info->created_at)},
      {"key_version", info->key_version}, {"state", store::RecordStateName(info->state)}};
  if (info->destroyed_at) o["destroyed_at"] = FormatRfc3339(*info->destroyed_at);
  return http::NoStoreReply(200, boost::json::serialize(o));
}

http::Response ApiHandler::Impl::Policy(const http::Request& request,
                                        const broker::Caller& caller) {
  if (request.method == "GET") {
    if (auto ok = RequireNoBody(request); !ok) return ErrorReply(ok.error());
    auto current = Timed("get_policy", [&] { return deps.broker.GetPolicy(caller); });
    if (!current) return ErrorReply(current.error());
    return http::NoStoreReply(200, policy::SerializePolicy(**current));
  }
  if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
  if (request.body.empty()) return ErrorReply(Invalid("request body required"));
  auto stored = Timed("put_policy", [&] { return deps.broker.PutPolicy(caller, request.body); });
  if (!stored) return PolicyErrorReply(stored.error());
  return http::NoStoreReply(200, policy::SerializePolicy(**stored));
}

http::Response ApiHandler::Impl::Evaluate(const http::Request& request,
                                          const broker::Caller& caller) {
  if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
  if (request.body.empty()) return ErrorReply(Invalid("request body required"));
  // The facts parser first, so that every problem it finds (unknown fields,
  // duplicate keys, bad values) comes back with its path; then the strict
  // parse, so that this route refuses exactly what the others do.
  auto facts = policy::ParseFactsDocument(request.body);
  if (!facts) return PolicyErrorReply(facts.error());
  if (auto strict =
          BodyObject::Parse(request.body, {"operation", "principal", "roles", "asset_type",
                                           "asset_id", "asset_created_at", "request_time"});
      !strict) {
    return ErrorReply(strict.error());
  }
  const Instant now = facts->request_time.value_or(deps.clock.Now());
  auto evaluation = Timed("evaluate_policy",
                          [&] { return deps.broker.EvaluatePolicy(caller, facts->View(now)); });
  if (!evaluation) return ErrorReply(evaluation.error());
  return http::NoStoreReply(200, policy::ExplanationToJson(evaluation->explanation));
}

http::Response ApiHandler::Impl::Keys(const http::Request& request, const broker::Caller& caller) {
  if (request.method == "GET") {
    if (auto ok = RequireNoBody(request); !ok) return ErrorReply(ok.error());
    auto keys = Timed("list_keks", [&] { return deps.broker.ListKeks(caller); });
    if (!keys) return ErrorReply(keys.error());
    boost::json::array list;
    for (const auto& info : *keys) list.push_back(KekJson(info));
    return http::NoStoreReply(
        200, boost::json::serialize(boost::json::object{{"keys", std::move(list)}}));
  }
  // POST /v1/keys/rotate: no parameters; an empty body or {} is accepted.
  if (!request.body.empty()) {
    if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
    if (auto body = BodyObject::Parse(request.body, {}); !body) return ErrorReply(body.error());
  }
  auto rotated = Timed("rotate_kek", [&] { return deps.broker.RotateKek(caller); });
  if (!rotated) return ErrorReply(rotated.error());
  boost::json::object reply = KekJson(*rotated);
  auto keys = Timed("list_keks", [&] { return deps.broker.ListKeks(caller); });
  if (!keys) return ErrorReply(keys.error());
  boost::json::array list;
  for (const auto& info : *keys) list.push_back(KekJson(info));
  reply["keys"] = std::move(list);  // the contract: "KEK versions of the tenant"
  return http::NoStoreReply(200, boost::json::serialize(reply));
}

// POST /v1/keys/rewrap {"batch"?: 1..10000}: one resumable step of moving
// records off old KEK versions; call again until "remaining" is 0.
http::Response ApiHandler::Impl::RewrapKeys(const http::Request& request,
                                            const broker::Caller& caller) {
  std::int64_t batch = 1000;
  if (!request.body.empty()) {
    if (auto ok = CheckJsonContentType(request.headers); !ok) return ErrorReply(ok.error());
    auto body = BodyObject::Parse(request.body, {"batch"});
    if (!body) return ErrorReply(body.error());
    if (const auto* value = body->Find("batch")) {
      if (!value->is_int64() || value->as_int64() < 1 || value->as_int64() > 10000) {
        return ErrorReply(Invalid("batch must be an integer from 1 to 10000"));
      }
      batch = value->as_int64();
    }
  }
  auto progress = Timed(
      "rewrap", [&] { return deps.broker.RewrapStep(caller, static_cast<std::size_t>(batch)); });
  if (!progress) return ErrorReply(progress.error());
  return http::NoStoreReply(
      200, boost::json::serialize(boost::json::object{{"rewrapped", progress->rewrapped},
                                                      {"remaining", progress->remaining}}));
}

// DELETE /v1/keys/{version}[?force=true]: crypto-shreds a KEK version;
// refused (409) while records use it unless forced, and for the current one.
http::Response ApiHandler::Impl::DestroyKeyVersion(const http::Request& request,
                                                   const broker::Caller& caller,
                                                   std::string_view tail, std::string_view query) {
  if (auto ok = RequireNoBody(request); !ok) return ErrorReply(ok.error());
  auto version = ParseUnsigned(tail);
  if (!version || *version < 1 || *version > 0xFFFFFFFFu || tail.front() == '0') {
    return ErrorReply(Invalid("key version must be a number from 1 to 4294967295"));
  }
  bool force = false;
  if (!query.empty()) {
    if (query != "force=true" && query != "force=false") {
      return ErrorReply(Invalid("the only query parameter is force=true or force=false"));
    }
    force = query == "force=true";
  }
  auto shredded = Timed("destroy_kek", [&] {
    return deps.broker.DestroyKekVersion(caller, static_cast<std::uint32_t>(*version), force);
  });
  if (!shredded) return ErrorReply(shredded.error());
  return http::NoStoreReply(200, boost::json::serialize(boost::json::object{
                                     {"version", *version}, {"records_shredded", *shredded}}));
}

http::Response ApiHandler::Impl::Audit(const http::Request& request, const broker::Caller& caller,
                                       std::string_view query) {
  if ((caller.roles & policy::kRoleAdmin) == 0) {
    return ErrorReply(MakeError(ErrorCode::kPermissionDenied, "role admin required"));
  }
  // The audit index is read here, not through the broker: admit the tenant
  // as every broker flow does, so an unconfigured tenant learns nothing.
  if (auto known = deps.broker.AdmitTenant(caller.tenant); !known) {
    return ErrorReply(known.error());
  }
  if (auto ok = RequireNoBody(request); !ok) return ErrorReply(ok.error());
  std::optional<std::uint64_t> after;
  std::optional<std::uint64_t> limit;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) return ErrorReply(Invalid("bad query parameter"));
    const auto name = pair.substr(0, eq);
    auto value = ParseUnsigned(pair.substr(eq + 1));
    if (!value) return ErrorReply(value.error());
    std::optional<std::uint64_t>* slot = name == "after"   ? &after
                                         : name == "limit" ? &limit
                                                           : nullptr;
    if (slot == nullptr) return ErrorReply(Invalid("unknown query parameter"));
    if (slot->has_value()) return ErrorReply(Invalid("repeated query parameter"));
    *slot = *value;
  }
  const std::size_t max = std::min(options.audit_page_max, audit::kMaxQueryLimit);
  const std::uint64_t page = limit.value_or(std::min<std::size_t>(100, max));
  if (page < 1 || page > max) return ErrorReply(Invalid("limit out of range"));
  auto events = Timed("audit_query", [&] {
    return deps.audit_log.Query(caller.tenant, after.value_or(0), static_cast<std::size_t>(page));
  });
  if (!events) return ErrorReply(events.error());
  boost::json::array list;
  std::uint64_t next = after.value_or(0);
  for (const auto& event : *events) {
    list.push_back(AuditEventJson(event));
    next = event.seq;
  }
  return http::NoStoreReply(200, boost::json::serialize(boost::json::object{
                                     {"events", std::move(list)}, {"next_after", next}}));
}

}  // namespace kmsd::api
