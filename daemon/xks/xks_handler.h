// kmsd::xks — the AWS KMS External Key Store (XKS) proxy API, version 1
// (docs/xks.md; the specification is aws/aws-kms-xksproxy-api-spec).
//
// XksHandler is an http::Handler. Per request it: finds the key store by
// the path before "/kms/xks/v1" (unknown → 404 InvalidUriPathException, even
// with a valid signature: a signature can only be checked against a known
// store's credentials); matches the route (POST {prefix}/kms/xks/v1/health,
// .../keys/{keyId}/{metadata,encrypt,decrypt}; another method → 405);
// verifies the AWS SigV4 signature (service kms-xks-proxy, the store's
// region, 5 minutes of clock skew, any of the store's credentials) → 401
// AuthenticationFailedException; applies the store's rate limit → 429
// ThrottlingException; parses the JSON body strictly; checks the key (not
// configured or absent in the token → 404 KeyNotFoundException, disabled →
// 400 InvalidStateException, operation not allowed → 400
// InvalidKeyUsageException, principal not allowed or the store's policy
// denies → 403 AccessDeniedException); runs AES-256-GCM in the token; and replies with
// single-line JSON. Errors are {"errorName", "errorMessage"} with the status
// of XksErrorToHttp(), the one mapping of this front.
//
// AAD given to the token: be16(len(aad)) || aad || u8(len(meta)) || meta,
// where meta is the ciphertextMetadata kmsd returns with every encryption
// (kCiphertextMetadata), so neither field can stand in for the other.
//
// Never logged, audited or put in an error: plaintext, AAD, ciphertext,
// secrets. Every call that passed authentication is audited (operation
// xks_*, tenant "xks:<store>", principal awsPrincipalArn, request_id
// kmsRequestId); an encrypt or decrypt whose audit event is not durable
// fails (503 DependencyTimeoutException) and returns nothing.
//
// Thread-safe: Handle runs on every worker; SetCredentials may run at once
// (SIGHUP). The ciphers, key services, audit log and clock must outlive it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/audit_log.h"
#include "common/result.h"
#include "common/time.h"
#include "daemon/api/rate_limiter.h"
#include "daemon/http/handler.h"
#include "daemon/xks/sigv4.h"
#include "hsm/key_service.h"
#include "hsm/labeled_key_cipher.h"
#include "policy/policy.h"

namespace kmsd::xks {

inline constexpr std::string_view kApiPath = "/kms/xks/v1";
inline constexpr std::string_view kService = "kms-xks-proxy";
// Returned as ciphertextMetadata; names this AAD construction (version 1).
inline constexpr std::string_view kCiphertextMetadata = "kmsd-xks-aad-v1";
inline constexpr std::size_t kMaxAad = 8192;         // the specification's minimum
inline constexpr std::size_t kMaxPlaintext = 16384;  // beyond: UnsupportedOperationException
inline constexpr std::size_t kMaxMetadataString = 2048;

enum class XksError {
  kValidation,
  kInvalidState,
  kInvalidCiphertext,
  kInvalidKeyUsage,
  kAuthenticationFailed,
  kAccessDenied,
  kKeyNotFound,
  kInvalidUriPath,
  kMethodNotAllowed,
  kThrottling,
  kUnsupportedOperation,
  kDependencyTimeout,
  kInternal,
};

struct XksHttpError {
  unsigned status;
  std::string_view error_name;
};
XksHttpError XksErrorToHttp(XksError error) noexcept;

struct XksKey {
  std::string id;
  std::string token;  // token name, for logs
  std::string label;
  bool encrypt = true;
  bool decrypt = true;
  bool enabled = true;
  std::vector<std::string> allowed_principals;  // exact, or prefix ending in '*'
  hsm::LabeledKeyCipher* cipher = nullptr;
};

// One token behind a store, reported in ekmFleetDetails and probed by the
// deep health check (KeyService::CheckHealth: a real wrap/unwrap).
struct XksToken {
  std::string name;
  std::string model;  // e.g. "PKCS#11 token kmsd-prod (SoftHSM2)"
  hsm::KeyService* keys = nullptr;
};

struct XksKeyStore {
  std::string name;
  std::string uri_path_prefix;  // "" or "/a/b"
  std::string region;
  std::map<std::string, XksKey, std::less<>> keys;
  std::vector<XksToken> tokens;  // at least one
  std::vector<sigv4::Credential> credentials;
  api::TenantRateLimit rate_limit;  // rps 0: unlimited
  // Secondary authorization of encrypt and decrypt (null: none). Facts:
  // operation encrypt/decrypt, principal = awsPrincipalArn, asset_type =
  // kmsOperation in lower case, asset_id = keyId, request time = now.
  std::shared_ptr<const policy::CompiledPolicy> policy;
};

struct XksOptions {
  std::string proxy_vendor = "kmsd";
  std::string proxy_model = "kmsd XKS proxy 0.1.0";
  std::string ekm_vendor = "PKCS#11";
  unsigned fleet_size = 1;
  std::chrono::seconds max_skew{300};
};

struct XksDependencies {
  audit::AuditLog* audit_log = nullptr;  // null: no audit (tests of pure behaviour only)
  const Clock& clock;
};

class XksHandler final : public http::Handler {
 public:
  XksHandler(XksOptions options, std::vector<XksKeyStore> stores, XksDependencies dependencies);
  ~XksHandler() override;
  XksHandler(const XksHandler&) = delete;
  XksHandler& operator=(const XksHandler&) = delete;

  http::Response Handle(const http::Request& request) override;

  // Replaces the SigV4 credentials of store `name` (SIGHUP). kNotFound when
  // no store has that name, kInvalidArgument when the list is empty.
  Status SetCredentials(std::string_view name, std::vector<sigv4::Credential> credentials);
  // Replaces the policy of store `name` (SIGHUP); null removes it. kNotFound.
  Status SetPolicy(std::string_view name, std::shared_ptr<const policy::CompiledPolicy> policy);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads one SigV4 credential, "ACCESS_KEY_ID:SECRET_ACCESS_KEY" (one trailing
// newline allowed), into a Secret. kInvalidArgument naming the path (never
// the contents) when unreadable, malformed, or the id is not 1..128 of
// [A-Za-z0-9/_-] or the secret 1..128 bytes.
Result<sigv4::Credential> ReadCredentialFile(const std::string& path);

// True when `path` belongs to the XKS front: it contains "/kms/xks/" and is
// not one of the API's (daemon::IsApiPath).
bool IsXksPath(std::string_view target);

// Sends XKS paths to `xks`, everything else to `other` (the API), so both
// fronts can share one listener and its TLS configuration.
class FrontSplitter final : public http::Handler {
 public:
  FrontSplitter(http::Handler& xks, http::Handler& other) : xks_(xks), other_(other) {}
  http::Response Handle(const http::Request& request) override {
    return IsXksPath(request.target) ? xks_.Handle(request) : other_.Handle(request);
  }

 private:
  http::Handler& xks_;
  http::Handler& other_;
};

}  // namespace kmsd::xks
