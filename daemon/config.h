// kmsd's configuration: one TOML file read into a typed, immutable struct.
//
// LoadConfigFile / ParseConfig reject unknown keys, wrong types and
// out-of-range values, naming each offending key by its path
// (e.g. `tokens[0].pool_size`), and return every problem at once. Secrets
// (token PIN, TLS key) are never values in the file: only a file path or a
// systemd credential name, resolved at start-up. DumpConfigRedacted prints the
// effective config for the start-up log; it contains paths and names only.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace kmsd::daemon {

// Where a secret comes from: exactly one of file or credential.
struct SecretSource {
  std::string file;        // absolute path, read at start-up
  std::string credential;  // name under $CREDENTIALS_DIRECTORY (systemd LoadCredential=)
  bool empty() const { return file.empty() && credential.empty(); }
};

struct ListenerConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8443;
};

struct ServerConfig {
  ListenerConfig listen;                     // the API
  std::optional<ListenerConfig> ops_listen;  // health, readiness, metrics; else on `listen`
  unsigned io_threads = 2;
  unsigned worker_threads = 64;  // waiters share group commits: well above pool_size
  unsigned max_connections = 1024;
  std::size_t header_limit_bytes = 8 * 1024;
  std::size_t body_limit_bytes = 64 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

struct TlsConfig {
  bool enabled = true;
  std::string cert_file;
  SecretSource key;
  std::string client_ca_file;  // non-empty: mutual TLS required
  // With mutual TLS: when non-empty, only a client certificate whose subject
  // commonName is one of these completes the handshake (the XKS
  // specification's "cks.kms.<region>.amazonaws.com").
  std::vector<std::string> client_subject_cns;
};

struct StoreConfig {
  std::string backend = "sqlite";
  std::string path = "/var/lib/kmsd/kmsd.db";
};

struct AuditConfig {
  std::string dir = "/var/log/kmsd";
  std::uint64_t max_file_bytes = 64ull << 20;
  std::uint64_t checkpoint_every_events = 1000;
  std::chrono::seconds checkpoint_every{60};
  bool journald = false;
};

struct IdentityConfig {
  std::string issuer;
  std::string audience;
  std::string jwks_file;
  std::chrono::seconds leeway{60};
  std::string tenant_claim = "tenant";
  std::string roles_claim = "roles";
  std::map<std::string, std::string> role_map;  // claim value -> encrypt|decrypt|admin
};

struct AuthorizationConfig {
  std::string broker_id = "kmsd";  // the `aud` every authorization token must carry
  std::chrono::seconds max_lifetime{600};
  std::chrono::seconds leeway{60};
};

struct TokenConfigEntry {
  std::string name;
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string label;
  SecretSource pin;
  unsigned pool_size = 4;
  std::string kek_label_prefix = "kmsd:";
};

struct TenantConfig {
  std::string name;
  std::string token;              // a TokenConfigEntry name
  std::string signers_jwks_file;  // the data holders' authorization-token signer keys
  std::string signers_issuer;     // the `iss` their authorization tokens carry
  double rate_limit_rps = 0;      // 0: unlimited
  double rate_limit_burst = 0;
};

// A mutual-TLS client certificate that authenticates by itself (no bearer
// token): the certificate must verify against tls.client_ca_file, and its
// SHA-256 fingerprint maps it to a principal of a configured tenant.
struct ClientCertificateConfig {
  std::string sha256;  // lowercase hex of SHA-256 over the DER certificate
  std::string tenant;  // a [[tenants]] name
  std::string principal;
  std::vector<std::string> roles;  // "encrypt", "decrypt", "admin"
};

// One key of an external key store (docs/xks.md): the XKS keyId, the token
// key it stands for (found by its exact CKA_LABEL) and what it may do.
struct XksKeyConfig {
  std::string id;     // [A-Za-z0-9._-]{1,128}, unique within the key store
  std::string token;  // a TokenConfigEntry name
  std::string label;  // CKA_LABEL of an AES-256 secret key in that token
  bool encrypt = true;
  bool decrypt = true;
  bool enabled = true;  // false: keyStatus DISABLED, crypto refused (InvalidStateException)
  // Secondary authorization on requestMetadata.awsPrincipalArn: exact ARNs or
  // prefixes ending in '*'. Empty: every principal KMS sends is allowed.
  std::vector<std::string> allowed_principals;
  bool create_if_missing = false;  // dev mode and tests: create the token key at start-up
};

// An AWS KMS external key store served at <uri_path_prefix>/kms/xks/v1.
struct XksKeyStoreConfig {
  std::string name;             // [A-Za-z0-9._-]{1,64}; audit tenant "xks:<name>"
  std::string uri_path_prefix;  // "" or "/a/b" (chars A-Za-z0-9/_-), unique
  std::string region = "us-east-1";
  // Each file (or credential) holds one line "ACCESS_KEY_ID:SECRET_ACCESS_KEY",
  // re-read on SIGHUP; any of them is accepted (rotation without downtime).
  std::vector<SecretSource> credentials;
  std::vector<XksKeyConfig> keys;
  double rate_limit_rps = 0;  // 0: unlimited; beyond: ThrottlingException
  double rate_limit_burst = 0;
  // Optional secondary authorization: a policy document (docs/policy.md)
  // evaluated for every encrypt and decrypt, re-read on SIGHUP.
  std::string policy_file;
};

struct XksConfig {
  std::vector<XksKeyStoreConfig> key_stores;
  std::string ekm_vendor = "PKCS#11";  // ekmVendor of GetHealthStatus
  unsigned fleet_size = 1;             // xksProxyFleetSize: kmsd instances behind the endpoint
};

struct KeysConfig {
  // A KEK version is rotated once this many wraps were reserved under it; far
  // below the 2^32 random-IV bound of AES-GCM (NIST SP 800-38D §8.3).
  std::uint64_t rotate_after_wraps = 1ull << 30;
};

struct Config {
  ServerConfig server;
  TlsConfig tls;
  StoreConfig store;
  AuditConfig audit;
  IdentityConfig identity;
  AuthorizationConfig authorization;
  std::vector<TokenConfigEntry> tokens;
  std::vector<TenantConfig> tenants;
  std::vector<ClientCertificateConfig> client_certificates;
  KeysConfig keys;
  XksConfig xks;
  // Dev mode only (set by --dev, never by a file): every tenant is served by
  // tokens[0], provisioned on first use, and trusts these signers.
  bool dev_mode = false;
  std::string dev_signers_jwks_file;
  std::string dev_signers_issuer;
  std::string dev_data_dir;
};

// Every problem found, each "path: what is wrong"; empty on success.
struct ConfigProblems {
  std::vector<std::string> problems;
};

// Parses TOML text. On failure the Error is kInvalidArgument and `problems`
// (when given) lists each problem with its key path.
Result<Config> ParseConfig(std::string_view toml_text, ConfigProblems* problems = nullptr);
Result<Config> LoadConfigFile(const std::filesystem::path& path,
                              ConfigProblems* problems = nullptr);

// Files the configuration names that cannot be read now (module, TLS
// certificate and CA, JWKS files, secret files, credentials when
// $CREDENTIALS_DIRECTORY is set), or that read but are of the wrong kind (a
// module without an ELF header, a certificate file with no PEM certificate,
// a JWKS that is not a key set, a secret file open to others, a directory
// where a file or the store belongs), each "path: file: reason". Not problems of
// the file itself (an example may name files that are installed later), but
// kmsd will not start until they are readable: --check-config warns.
std::vector<std::string> UnreadableFiles(const Config& config);

// True for 127.0.0.0/8 and ::1 (numeric addresses only).
bool IsLoopbackAddress(const std::string& address);

// The effective configuration as TOML-like text, secrets shown only by source.
std::string DumpConfigRedacted(const Config& config);

}  // namespace kmsd::daemon
