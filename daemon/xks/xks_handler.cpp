#include "daemon/xks/xks_handler.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "daemon/api_paths.h"
#include "daemon/xks/xks_request.h"

namespace kmsd::xks {
namespace {

namespace json = boost::json;
using namespace request;

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kHealth: return "health";
    case Route::kMetadata: return "metadata";
    case Route::kEncrypt: return "encrypt";
    case Route::kDecrypt: return "decrypt";
  }
  return "unknown";
}

audit::Operation AuditOperation(Route route) {
  switch (route) {
    case Route::kHealth: return audit::Operation::kXksHealth;
    case Route::kMetadata: return audit::Operation::kXksMetadata;
    case Route::kEncrypt: return audit::Operation::kXksEncrypt;
    case Route::kDecrypt: return audit::Operation::kXksDecrypt;
  }
  return audit::Operation::kXksHealth;
}

ErrorCode AuditCode(XksError error) {
  switch (error) {
    case XksError::kValidation:
    case XksError::kInvalidCiphertext:
    case XksError::kUnsupportedOperation: return ErrorCode::kInvalidArgument;
    case XksError::kInvalidState:
    case XksError::kInvalidKeyUsage:
    case XksError::kAccessDenied: return ErrorCode::kPermissionDenied;
    case XksError::kAuthenticationFailed: return ErrorCode::kUnauthenticated;
    case XksError::kKeyNotFound:
    case XksError::kInvalidUriPath: return ErrorCode::kNotFound;
    case XksError::kMethodNotAllowed: return ErrorCode::kInvalidArgument;
    case XksError::kThrottling: return ErrorCode::kRateLimited;
    case XksError::kDependencyTimeout: return ErrorCode::kHsmUnavailable;
    case XksError::kInternal: break;
  }
  return ErrorCode::kInternal;
}

// Token errors of LabeledKeyCipher / KeyService → XKS errors.
Failure FromTokenError(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotFound: return Fail(XksError::kKeyNotFound, "key not found in the token");
    case ErrorCode::kIntegrity:
      return Fail(XksError::kInvalidCiphertext,
                  "ciphertext, IV, tag, AAD or ciphertextMetadata failed authentication");
    case ErrorCode::kInvalidArgument: return Fail(XksError::kValidation, error.message);
    case ErrorCode::kHsmUnavailable:
      return Fail(XksError::kDependencyTimeout, "the HSM is unavailable; retry");
    default: return Fail(XksError::kInternal, "internal error");
  }
}

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool KeyIdChars(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

// Cuts at `max` bytes without splitting a UTF-8 sequence (audit fields are bounded).
std::string Bounded(std::string_view s, std::size_t max = audit::kMaxAuditFieldBytes) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

// A caller-chosen value made safe for one log line: printable ASCII only
// (control bytes, newlines, escapes and non-ASCII become '?'), bounded, so a
// request cannot forge log lines or terminal sequences.
std::string ForLog(std::string_view s, std::size_t max = 128) {
  std::string out(s.substr(0, std::min(s.size(), max)));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

bool PrincipalAllowed(const XksKey& key, std::string_view principal) {
  if (key.allowed_principals.empty()) return true;
  for (const std::string& pattern : key.allowed_principals) {
    if (!pattern.empty() && pattern.back() == '*') {
      if (principal.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1)))
        return true;
    } else if (principal == pattern) {
      return true;
    }
  }
  return false;
}

}  // namespace

XksHttpError XksErrorToHttp(XksError error) noexcept {
  switch (error) {
    case XksError::kValidation: return {400, "ValidationException"};
    case XksError::kInvalidState: return {400, "InvalidStateException"};
    case XksError::kInvalidCiphertext: return {400, "InvalidCiphertextException"};
    case XksError::kInvalidKeyUsage: return {400, "InvalidKeyUsageException"};
    case XksError::kAuthenticationFailed: return {401, "AuthenticationFailedException"};
    case XksError::kAccessDenied: return {403, "AccessDeniedException"};
    case XksError::kKeyNotFound: return {404, "KeyNotFoundException"};
    case XksError::kInvalidUriPath: return {404, "InvalidUriPathException"};
    case XksError::kMethodNotAllowed: return {405, "UnsupportedOperationException"};
    case XksError::kThrottling: return {429, "ThrottlingException"};
    case XksError::kUnsupportedOperation: return {501, "UnsupportedOperationException"};
    case XksError::kDependencyTimeout: return {503, "DependencyTimeoutException"};
    case XksError::kInternal: break;
  }
  return {500, "InternalException"};
}

bool IsXksPath(std::string_view target) {
  target = target.substr(0, target.find('?'));
  // /v1 is the API's: a context id may hold "/kms/xks/" (GET
  // /v1/records/a/kms/xks/b), and no key store's prefix lies under /v1.
  if (daemon::IsApiPath(target)) return false;
  return target.find("/kms/xks/") != std::string_view::npos || target.ends_with("/kms/xks");
}

struct XksHandler::Impl {
  struct Store {
    XksKeyStore config;
    std::mutex mu;  // guards credentials and policy
    std::shared_ptr<const std::vector<sigv4::Credential>> credentials;
    std::shared_ptr<const policy::CompiledPolicy> policy;
  };

  // What the audit event records of a policy decision.
  struct PolicyOutcome {
    std::string rule;
    std::uint64_t version = 0;
  };

  Impl(XksOptions opts, std::vector<XksKeyStore> configs, XksDependencies deps)
      : options(std::move(opts)), deps(deps), rate_limiter(Limits(configs), std::nullopt) {
    for (auto& config : configs) {
      auto store = std::make_unique<Store>();
      store->credentials =
          std::make_shared<const std::vector<sigv4::Credential>>(std::move(config.credentials));
      store->policy = std::move(config.policy);
      store->config = std::move(config);
      stores.push_back(std::move(store));
    }
  }

  static std::map<std::string, api::TenantRateLimit, std::less<>> Limits(
      const std::vector<XksKeyStore>& configs) {
    std::map<std::string, api::TenantRateLimit, std::less<>> limits;
    for (const auto& c : configs) {
      if (c.rate_limit.rps > 0) limits[c.name] = c.rate_limit;
    }
    return limits;
  }

  std::shared_ptr<const std::vector<sigv4::Credential>> CredentialsOf(Store& store) {
    std::lock_guard lock(store.mu);
    return store.credentials;
  }

  http::Response Handle(const http::Request& request);
  XResult<std::string> Dispatch(const http::Request& request, Store& store, Route route,
                                std::string_view key_id, Body& body, bool* deny,
                                PolicyOutcome* decided);
  XResult<void> Authorize(Store& store, Route route, std::string_view key_id, const Body& body,
                          PolicyOutcome* decided);
  XResult<const XksKey*> FindKey(Store& store, std::string_view key_id, const Body& body) const;
  XResult<std::string> Health(Store& store);
  XResult<std::string> Metadata(const XksKey& key);
  XResult<std::string> Encrypt(const XksKey& key, Body& body);
  XResult<std::string> Decrypt(const XksKey& key, const Body& body);
  Status Audit(const Store& store, Route route, std::string_view key_id, const Body& body,
               const http::Request& request, const std::optional<Failure>& failure, bool deny,
               const PolicyOutcome& decided);

  const XksOptions options;
  XksDependencies deps;
  api::RateLimiter rate_limiter;
  std::vector<std::unique_ptr<Store>> stores;
};

XResult<const XksKey*> XksHandler::Impl::FindKey(Store& store, std::string_view key_id,
                                                 const Body& body) const {
  const auto it = store.config.keys.find(key_id);
  if (it == store.config.keys.end()) return Fail(XksError::kKeyNotFound, "no such keyId");
  const XksKey& key = it->second;
  if (!PrincipalAllowed(key, body.principal)) {
    return Fail(XksError::kAccessDenied, "awsPrincipalArn is not allowed to use this key");
  }
  return &key;
}

XResult<void> XksHandler::Impl::Authorize(Store& store, Route route, std::string_view key_id,
                                          const Body& body, PolicyOutcome* decided) {
  if (route != Route::kEncrypt && route != Route::kDecrypt) return {};
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  {
    std::lock_guard lock(store.mu);
    compiled = store.policy;
  }
  if (!compiled) return {};
  std::string operation = body.kms_operation;
  std::transform(operation.begin(), operation.end(), operation.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  // A value the policy language could never name is no fact at all.
  if (!policy::IsValidAssetType(operation)) operation.clear();
  policy::Facts facts;
  facts.operation =
      route == Route::kEncrypt ? policy::Operation::kEncrypt : policy::Operation::kDecrypt;
  facts.principal = body.principal;
  facts.asset_type = operation;
  facts.asset_id = key_id;
  facts.request_time = deps.clock.Now();
  const policy::Decision decision = compiled->Evaluate(facts);
  decided->rule = std::string(decision.rule_id);
  decided->version = decision.policy_version;
  if (decision.allowed()) return {};
  return Fail(XksError::kAccessDenied, "denied by policy rule " + decided->rule);
}

XResult<std::string> XksHandler::Impl::Health(Store& store) {
  json::array fleet;
  bool any_active = false;
  for (const XksToken& token : store.config.tokens) {
    const auto healthy = token.keys->CheckHealth();
    if (!healthy) {
      spdlog::warn("xks: store {} token {} health probe failed: {}", store.config.name, token.name,
                   ErrorCodeName(healthy.error().code));
    }
    any_active = any_active || healthy.has_value();
    fleet.push_back(json::object{{"id", token.name},
                                 {"model", token.model},
                                 {"healthStatus", healthy ? "ACTIVE" : "UNAVAILABLE"}});
  }
  if (!any_active) return Fail(XksError::kInternal, "no HSM of the key store is available");
  return json::serialize(json::object{{"xksProxyFleetSize", options.fleet_size},
                                      {"xksProxyVendor", options.proxy_vendor},
                                      {"xksProxyModel", options.proxy_model},
                                      {"ekmVendor", options.ekm_vendor},
                                      {"ekmFleetDetails", std::move(fleet)}});
}

XResult<std::string> XksHandler::Impl::Metadata(const XksKey& key) {
  auto info = key.cipher->DescribeLabeledKey(key.label);
  if (!info) return FromTokenError(info.error());
  if (!info->aes_256) return Fail(XksError::kInvalidState, "the token key is not AES-256");
  json::array usage;
  if (key.encrypt && info->can_encrypt) usage.emplace_back("ENCRYPT");
  if (key.decrypt && info->can_decrypt) usage.emplace_back("DECRYPT");
  return json::serialize(json::object{{"keySpec", "AES_256"},
                                      {"keyUsage", std::move(usage)},
                                      {"keyStatus", key.enabled ? "ENABLED" : "DISABLED"}});
}

XResult<std::string> XksHandler::Impl::Encrypt(const XksKey& key, Body& body) {
  auto plaintext_text = RequiredString(body, "plaintext");
  if (!plaintext_text) return plaintext_text.error();
  if (auto st = CheckAlgorithm(body); !st) return st.error();
  auto aad = OptionalBase64(body, "additionalAuthenticatedData", XksError::kValidation);
  if (!aad) return aad.error();
  if (aad->size() > kMaxAad) {
    return Fail(XksError::kUnsupportedOperation, "additionalAuthenticatedData over 8192 bytes");
  }
  auto cdiv_algorithm = StringField(body, "ciphertextDataIntegrityValueAlgorithm");
  if (!cdiv_algorithm) return cdiv_algorithm.error();
  if (*cdiv_algorithm && **cdiv_algorithm != "SHA_256") {
    return Fail(XksError::kUnsupportedOperation,
                "ciphertextDataIntegrityValueAlgorithm must be SHA_256");
  }
  auto plaintext = Base64DecodeSecret(*plaintext_text);
  // The parsed copy of the plaintext's text is wiped at once; from here on
  // the plaintext lives only in the Secret. (The raw body is the transport's.)
  if (json::value* text = body.object.if_contains("plaintext"); text && text->is_string()) {
    OPENSSL_cleanse(text->as_string().data(), text->as_string().size());
  }
  if (!plaintext) return Fail(XksError::kValidation, "plaintext is not base64");
  if (plaintext->size() > kMaxPlaintext) {
    return Fail(XksError::kUnsupportedOperation, "plaintext over 16384 bytes");
  }
  if (!key.enabled) return Fail(XksError::kInvalidState, "the key is disabled");
  if (!key.encrypt) return Fail(XksError::kInvalidKeyUsage, "the key may not encrypt");
  // The integrity value is only promised after a decrypt proved it (Appendix C).
  if (*cdiv_algorithm && !key.decrypt) {
    return Fail(XksError::kInvalidKeyUsage,
                "ciphertextDataIntegrityValue needs a key that may also decrypt");
  }
  const auto metadata = AsBytes(kCiphertextMetadata);
  const Bytes effective = EffectiveAad(*aad, metadata);
  auto sealed = key.cipher->EncryptWithLabeledKey(key.label, effective, plaintext->expose());
  if (!sealed) return FromTokenError(sealed.error());
  json::object reply{{"ciphertext", Base64Encode(sealed->ciphertext)},
                     {"ciphertextMetadata", Base64Encode(metadata)},
                     {"initializationVector", Base64Encode(sealed->iv)},
                     {"authenticationTag", Base64Encode(sealed->tag)}};
  if (*cdiv_algorithm) {
    // Hash first, then prove decryptability (the order Appendix C asks for).
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::array<std::uint8_t, 32> digest{};
    unsigned int len = 0;
    const bool hashed =
        ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
        EVP_DigestUpdate(ctx, aad->data(), aad->size()) == 1 &&
        EVP_DigestUpdate(ctx, metadata.data(), metadata.size()) == 1 &&
        EVP_DigestUpdate(ctx, sealed->iv.data(), sealed->iv.size()) == 1 &&
        EVP_DigestUpdate(ctx, sealed->ciphertext.data(), sealed->ciphertext.size()) == 1 &&
        EVP_DigestUpdate(ctx, sealed->tag.data(), sealed->tag.size()) == 1 &&
        EVP_DigestFinal_ex(ctx, digest.data(), &len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!hashed) return Fail(XksError::kInternal, "SHA-256 failed");
    auto check = key.cipher->DecryptWithLabeledKey(key.label, sealed->iv, effective,
                                                   sealed->ciphertext, sealed->tag);
    if (!check) return FromTokenError(check.error());
    if (!check->Equals(plaintext->expose())) {
      return Fail(XksError::kInternal, "encrypt output did not decrypt to the plaintext");
    }
    reply["ciphertextDataIntegrityValue"] = Base64Encode(digest);
  }
  return json::serialize(reply);
}

XResult<std::string> XksHandler::Impl::Decrypt(const XksKey& key, const Body& body) {
  auto ciphertext_text = RequiredString(body, "ciphertext");
  if (!ciphertext_text) return ciphertext_text.error();
  auto iv_text = RequiredString(body, "initializationVector");
  if (!iv_text) return iv_text.error();
  auto tag_text = RequiredString(body, "authenticationTag");
  if (!tag_text) return tag_text.error();
  if (auto st = CheckAlgorithm(body); !st) return st.error();
  auto aad = OptionalBase64(body, "additionalAuthenticatedData", XksError::kValidation);
  if (!aad) return aad.error();
  if (aad->size() > kMaxAad) {
    return Fail(XksError::kUnsupportedOperation, "additionalAuthenticatedData over 8192 bytes");
  }
  auto metadata = OptionalBase64(body, "ciphertextMetadata", XksError::kInvalidCiphertext);
  if (!metadata) return metadata.error();
  if (metadata->size() > 20) {
    return Fail(XksError::kInvalidCiphertext, "ciphertextMetadata over 20 bytes");
  }
  auto ciphertext = Base64Decode(*ciphertext_text);
  auto iv = Base64Decode(*iv_text);
  auto tag = Base64Decode(*tag_text);
  if (!ciphertext || !iv || !tag) {
    return Fail(XksError::kInvalidCiphertext,
                "ciphertext, initializationVector or authenticationTag is not base64");
  }
  if (ciphertext->size() > kMaxPlaintext) {
    return Fail(XksError::kUnsupportedOperation, "ciphertext over 16384 bytes");
  }
  if ((iv->size() != 12 && iv->size() != 16) || tag->size() != 16) {
    return Fail(XksError::kInvalidCiphertext,
                "initializationVector must be 12 or 16 bytes, authenticationTag 16");
  }
  if (!key.enabled) return Fail(XksError::kInvalidState, "the key is disabled");
  if (!key.decrypt) return Fail(XksError::kInvalidKeyUsage, "the key may not decrypt");
  const Bytes effective = EffectiveAad(*aad, *metadata);
  auto plaintext = key.cipher->DecryptWithLabeledKey(key.label, *iv, effective, *ciphertext, *tag);
  if (!plaintext) return FromTokenError(plaintext.error());
  std::string encoded = Base64Encode(plaintext->expose());
  std::string reply = "{\"plaintext\":\"" + encoded + "\"}";
  OPENSSL_cleanse(encoded.data(), encoded.size());
  return reply;
}

Status XksHandler::Impl::Audit(const Store& store, Route route, std::string_view key_id,
                               const Body& body, const http::Request& request,
                               const std::optional<Failure>& failure, bool deny,
                               const PolicyOutcome& decided) {
  if (deps.audit_log == nullptr) return {};
  audit::AuditEvent event;
  event.time = deps.clock.Now();
  event.tenant = "xks:" + store.config.name;
  event.principal = Bounded(body.principal);
  event.operation = AuditOperation(route);
  event.context_id = Bounded(key_id);
  event.asset_type = Bounded(body.kms_operation);
  event.asset_id = Bounded(body.kms_key_arn);
  event.decision = deny ? audit::Decision::kDeny : audit::Decision::kAllow;
  event.rule = Bounded(decided.rule);
  event.policy_version = decided.version;
  event.request_id =
      Bounded(body.kms_request_id.empty() ? request.request_id : body.kms_request_id);
  if (failure) {
    event.error = AuditCode(failure->error);
    event.reason = std::string(XksErrorToHttp(failure->error).error_name);
  }
  if (!audit::IsValidUtf8(event.principal) || !audit::IsValidUtf8(event.asset_type) ||
      !audit::IsValidUtf8(event.asset_id) || !audit::IsValidUtf8(event.request_id)) {
    return MakeError(ErrorCode::kInvalidArgument, "request metadata is not UTF-8");
  }
  auto appended = deps.audit_log->Append(std::move(event));
  if (!appended) return appended.error();
  return {};
}

XResult<std::string> XksHandler::Impl::Dispatch(const http::Request& request, Store& store,
                                                Route route, std::string_view key_id, Body& body,
                                                bool* deny, PolicyOutcome* decided) {
  auto parsed = ParseBody(request.body, route);
  if (!parsed) return parsed.error();
  body = std::move(*parsed);
  if (route == Route::kHealth) return Health(store);
  auto key = FindKey(store, key_id, body);
  if (!key) {
    *deny = key.error().error == XksError::kAccessDenied;
    return key.error();
  }
  if (auto allowed = Authorize(store, route, key_id, body, decided); !allowed) {
    *deny = true;
    return allowed.error();
  }
  XResult<std::string> result = Fail(XksError::kInternal, "unreachable");
  switch (route) {
    case Route::kMetadata: result = Metadata(**key); break;
    case Route::kEncrypt: result = Encrypt(**key, body); break;
    case Route::kDecrypt: result = Decrypt(**key, body); break;
    case Route::kHealth: break;
  }
  if (!result) {
    const XksError e = result.error().error;
    *deny = e == XksError::kInvalidKeyUsage || e == XksError::kInvalidState;
  }
  return result;
}

http::Response XksHandler::Impl::Handle(const http::Request& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  auto reply_error = [&](const Failure& f) { return ErrorReply(f); };

  // {prefix}/kms/xks/v1{rest}: the store is chosen by the exact prefix.
  const auto at = path.find(kApiPath);
  Store* store = nullptr;
  std::string_view rest;
  if (at != std::string_view::npos) {
    const std::string_view prefix = path.substr(0, at);
    rest = path.substr(at + kApiPath.size());
    for (auto& s : stores) {
      if (s->config.uri_path_prefix == prefix) store = s.get();
    }
  }
  if (store == nullptr) {
    return reply_error(Fail(XksError::kInvalidUriPath, "no external key store at this path"));
  }
  Route route;
  std::string_view key_id;
  if (rest == "/health") {
    route = Route::kHealth;
  } else if (rest.starts_with("/keys/")) {
    const std::string_view tail = rest.substr(6);
    const auto slash = tail.find('/');
    const std::string_view op = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
    key_id = tail.substr(0, slash);
    if (op == "metadata") {
      route = Route::kMetadata;
    } else if (op == "encrypt") {
      route = Route::kEncrypt;
    } else if (op == "decrypt") {
      route = Route::kDecrypt;
    } else {
      return reply_error(Fail(XksError::kInvalidUriPath, "unknown XKS operation"));
    }
    if (!KeyIdChars(key_id)) {
      return reply_error(Fail(XksError::kInvalidUriPath, "keyId must be 1..128 of A-Za-z0-9._-"));
    }
  } else {
    return reply_error(Fail(XksError::kInvalidUriPath, "unknown XKS route"));
  }
  if (request.method != "POST") {
    return reply_error(Fail(XksError::kMethodNotAllowed, "XKS routes accept POST only"));
  }

  const auto credentials = CredentialsOf(*store);
  const sigv4::Request signed_request{request.method, request.target, request.headers.fields(),
                                      request.body};
  const Instant now = deps.clock.Now();
  auto verified = sigv4::Verify(
      signed_request, *credentials,
      sigv4::Options{store->config.region, std::string(kService), options.max_skew}, now);
  if (!verified) {
    spdlog::warn("xks: store {} {} refused: sigv4 {} (request {})", store->config.name,
                 RouteName(route), sigv4::FailureName(verified.error().failure),
                 request.request_id);
    return reply_error(Fail(XksError::kAuthenticationFailed, verified.error().message));
  }
  if (rate_limiter.Admit(store->config.name, now)) {
    return reply_error(Fail(XksError::kThrottling, "request rate of this key store exceeded"));
  }
  if (!ContentTypeIsJson(request.headers)) {
    return reply_error(Fail(XksError::kValidation, "Content-Type must be application/json"));
  }

  Body body;
  bool deny = false;
  PolicyOutcome decided;
  auto result = Dispatch(request, *store, route, key_id, body, &deny, &decided);
  std::optional<Failure> failure;
  if (!result) failure = result.error();
  // Every authenticated call is audited. A released plaintext or a new
  // ciphertext is returned only once its event is durable.
  if (auto audited = Audit(*store, route, key_id, body, request, failure, deny, decided);
      !audited) {
    spdlog::error("xks: audit of {} failed: {}", RouteName(route), audited.error().message);
    if (result && (route == Route::kEncrypt || route == Route::kDecrypt)) {
      OPENSSL_cleanse(result->data(), result->size());
      failure = Fail(XksError::kDependencyTimeout, "audit log unavailable; retry");
      result = *failure;
    }
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  const std::string_view outcome =
      failure ? XksErrorToHttp(failure->error).error_name : std::string_view("ok");
  spdlog::info("xks: store={} op={} key={} kmsRequestId={} outcome={} us={} request={}",
               store->config.name, RouteName(route), ForLog(key_id), ForLog(body.kms_request_id),
               outcome, micros, request.request_id);
  if (!result) return reply_error(result.error());
  return http::NoStoreReply(200, std::move(*result));
}

XksHandler::XksHandler(XksOptions options, std::vector<XksKeyStore> stores,
                       XksDependencies dependencies)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(stores), dependencies)) {}

XksHandler::~XksHandler() = default;

http::Response XksHandler::Handle(const http::Request& request) {
  try {
    return impl_->Handle(request);
  } catch (const std::exception&) {
    spdlog::error("xks: unexpected exception (request {})", request.request_id);
    return ErrorReply(Fail(XksError::kInternal, "internal error"));
  }
}

Status XksHandler::SetCredentials(std::string_view name,
                                  std::vector<sigv4::Credential> credentials) {
  if (credentials.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a key store needs at least one credential");
  }
  for (auto& store : impl_->stores) {
    if (store->config.name != name) continue;
    auto fresh = std::make_shared<const std::vector<sigv4::Credential>>(std::move(credentials));
    std::lock_guard lock(store->mu);
    store->credentials = std::move(fresh);
    return {};
  }
  return MakeError(ErrorCode::kNotFound, "no XKS key store " + std::string(name));
}

Status XksHandler::SetPolicy(std::string_view name,
                             std::shared_ptr<const policy::CompiledPolicy> policy) {
  for (auto& store : impl_->stores) {
    if (store->config.name != name) continue;
    std::lock_guard lock(store->mu);
    store->policy = std::move(policy);
    return {};
  }
  return MakeError(ErrorCode::kNotFound, "no XKS key store " + std::string(name));
}

}  // namespace kmsd::xks
