#include "daemon/app.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "broker/audit/audit_log.h"
#include "broker/audit/key_service_signer.h"
#include "broker/audit_adapters.h"
#include "broker/broker.h"
#include "broker/jose/authorization_verifier.h"
#include "broker/jose/identity_verifier.h"
#include "broker/jose/jti_replay_cache.h"
#include "broker/jose/key_set.h"
#include "broker/store/sqlite_record_store.h"
#include "broker/store_jti_replay_cache.h"
#include "common/file_lock.h"
#include "common/openssl_ptr.h"
#include "daemon/api/api_handler.h"
#include "daemon/api/metered_key_service.h"
#include "daemon/http/server.h"
#include "daemon/jwks_file.h"
#include "daemon/xks/xks_handler.h"
#include "hsm/pkcs11_key_service.h"
#include "hsm/session_pool.h"

namespace kmsd::daemon {
namespace {

namespace fs = std::filesystem;

Error PartFailed(std::string_view part, const Error& error) {
  return MakeError(error.code, std::string(part) + ": " + error.message);
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidArgument, path + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<std::shared_ptr<const jose::KeySet>> LoadJwks(const std::string& path,
                                                     jose::AlgorithmSet allowed) {
  auto set = ReadJwksFile(path, allowed);
  if (!set) return set.error();
  return std::make_shared<const jose::KeySet>(std::move(*set));
}

constexpr jose::AlgorithmSet kSignerAlgorithms{jose::Algorithm::kES256, jose::Algorithm::kEdDSA};

// Writes the audit signer's public key as PEM so that `kmsctl audit verify`
// works without the token.
Status WritePublicKeyPem(std::span<const std::uint8_t> der, const fs::path& path) {
  const unsigned char* p = der.data();
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) return MakeError(ErrorCode::kInternal, "audit signer public key does not parse");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return MakeError(ErrorCode::kInternal, "audit signer public key cannot be encoded");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(data, size);
    if (!out.flush()) return MakeError(ErrorCode::kInternal, "cannot write " + temp.string());
  }
  std::error_code ec;
  // A public key: readable by verifiers (the audit folder still guards it).
  fs::permissions(temp,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                      fs::perms::others_read,
                  ec);
  fs::rename(temp, path, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "cannot write " + path.string());
  return {};
}

http::ServerConfig HttpConfigOf(const Config& config, const ListenerConfig& listen,
                                std::string name, std::string key_path) {
  http::ServerConfig http;
  http::ListenerConfig listener;
  listener.name = std::move(name);
  listener.address = listen.address;
  listener.port = listen.port;
  if (config.tls.enabled) {
    http::TlsConfig tls;
    tls.certificate_chain_file = config.tls.cert_file;
    tls.private_key_file = std::move(key_path);
    tls.require_client_certificate = !config.tls.client_ca_file.empty();
    tls.client_ca_file = config.tls.client_ca_file;
    tls.allowed_client_subject_cns = config.tls.client_subject_cns;
    listener.tls = std::move(tls);
  }
  http.listeners.push_back(std::move(listener));
  http.io_threads = config.server.io_threads;
  http.worker_threads = config.server.worker_threads;
  http.header_limit = config.server.header_limit_bytes;
  http.body_limit = config.server.body_limit_bytes;
  http.max_connections = config.server.max_connections;
  http.header_timeout = config.server.header_timeout;
  http.body_timeout = config.server.body_timeout;
  http.idle_timeout = config.server.idle_timeout;
  // Plain HTTP is accepted only on loopback (ParseConfig / dev mode refuse
  // anything else before we get here).
  http.allow_insecure_plain_http = false;
  return http;
}

// The SigV4 credentials of one key store, read from their files. Fails
// naming the file (never its contents) or a repeated access key id.
Result<std::vector<sigv4::Credential>> LoadXksCredentials(const XksKeyStoreConfig& store);
// The store's policy_file, compiled; null when none is configured.
Result<std::shared_ptr<const policy::CompiledPolicy>> LoadXksPolicy(const XksKeyStoreConfig& store);

}  // namespace

Result<std::string> ResolveSecretPath(const SecretSource& source) {
  if (!source.file.empty()) return source.file;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    return MakeError(ErrorCode::kInvalidArgument,
                     "credential '" + source.credential +
                         "' named but $CREDENTIALS_DIRECTORY is unset (run under systemd with "
                         "LoadCredential=, or use a *_file key)");
  }
  return (fs::path(dir) / source.credential).string();
}

namespace {

Result<std::vector<sigv4::Credential>> LoadXksCredentials(const XksKeyStoreConfig& store) {
  std::vector<sigv4::Credential> credentials;
  for (const SecretSource& source : store.credentials) {
    auto path = ResolveSecretPath(source);
    if (!path) return path.error();
    auto credential = xks::ReadCredentialFile(*path);
    if (!credential) return credential.error();
    for (const auto& other : credentials) {
      if (other.access_key_id == credential->access_key_id) {
        return MakeError(ErrorCode::kInvalidArgument,
                         *path + ": access key id already used by another credential");
      }
    }
    credentials.push_back(std::move(*credential));
  }
  return credentials;
}

Result<std::shared_ptr<const policy::CompiledPolicy>> LoadXksPolicy(
    const XksKeyStoreConfig& store) {
  if (store.policy_file.empty()) return std::shared_ptr<const policy::CompiledPolicy>();
  auto text = ReadTextFile(store.policy_file);
  if (!text) return text.error();
  auto compiled = policy::ParsePolicyDocument(*text);
  if (!compiled) {
    std::string where = compiled.error().problems.empty() ? std::string("document")
                                                          : compiled.error().problems[0].path;
    if (where.empty()) where = "document";
    return MakeError(
        ErrorCode::kInvalidArgument,
        store.policy_file + ": policy refused at " + where + " (" +
            std::string(policy::ProblemCodeName(compiled.error().problems.empty()
                                                    ? policy::ProblemCode::kMalformedJson
                                                    : compiled.error().problems[0].code)) +
            ")");
  }
  return std::make_shared<const policy::CompiledPolicy>(std::move(*compiled));
}

}  // namespace

struct App::Parts {
  Config config;
  // One kmsd per SQLite store: a second one would keep its own KEK and
  // wrap-count state over the same rows and race rotations into duplicate
  // KEK objects (docs/store.md). First member, so it is released last.
  std::optional<FileLock> store_lock;
  SystemClock clock;
  std::vector<std::pair<std::string, std::shared_ptr<hsm::Pkcs11KeyService>>> tokens;
  std::unique_ptr<broker::TenantRouter> router;
  std::unique_ptr<store::SqliteRecordStore> store;
  std::shared_ptr<audit::KeyServiceCheckpointSigner> checkpoint_signer;
  std::unique_ptr<audit::AuditLog> audit_log;
  std::unique_ptr<broker::AuditLogSink> audit_sink;
  std::unique_ptr<jose::IdentityVerifier> identity;
  std::unique_ptr<jose::AuthorizationTokenVerifier> authorization;
  std::unique_ptr<broker::Broker> broker;
  std::shared_ptr<api::Metrics> metrics;
  std::unique_ptr<api::ApiHandler> api_handler;
  std::unique_ptr<api::ApiHandler> ops_handler;  // only with a separate ops listener
  std::unique_ptr<xks::XksHandler> xks_handler;  // only with [[xks.key_stores]]
  std::unique_ptr<xks::FrontSplitter> front;     // XKS paths → xks_handler, others → API
  std::unique_ptr<http::Server> api_server;
  std::unique_ptr<http::Server> ops_server;
  fs::path audit_public_key;

  Status LoadSigners();
  Status CreateXks();
  api::ApiOptions ApiOptionsFor(bool serve_api, bool serve_ops) const;
  std::vector<api::ReadinessCheck> ReadinessChecks();
};

Status App::Parts::LoadSigners() {
  // Read every file first and apply only when all of them load, so a broken
  // file for one tenant leaves every tenant's signers as they were.
  std::vector<std::pair<const TenantConfig*, std::shared_ptr<const jose::KeySet>>> loaded;
  for (const TenantConfig& tenant : config.tenants) {
    auto keys = LoadJwks(tenant.signers_jwks_file, kSignerAlgorithms);
    if (!keys) return PartFailed("tenant " + tenant.name + " signers", keys.error());
    loaded.emplace_back(&tenant, std::move(*keys));
  }
  std::shared_ptr<const jose::KeySet> dev_keys;
  if (config.dev_mode) {
    auto keys = LoadJwks(config.dev_signers_jwks_file, kSignerAlgorithms);
    if (!keys) return PartFailed("dev signers", keys.error());
    dev_keys = std::move(*keys);
  }
  for (const auto& [tenant, keys] : loaded) {
    if (auto st = authorization->SetTenantSigners(tenant->name, {tenant->signers_issuer, keys});
        !st) {
      return PartFailed("tenant " + tenant->name + " signers", st.error());
    }
  }
  if (dev_keys) {
    if (auto st = authorization->SetDefaultSigners({config.dev_signers_issuer, dev_keys}); !st) {
      return PartFailed("dev signers", st.error());
    }
  }
  return {};
}

Status App::Parts::CreateXks() {
  if (config.xks.key_stores.empty()) return {};
  std::vector<xks::XksKeyStore> stores;
  for (const XksKeyStoreConfig& entry : config.xks.key_stores) {
    const std::string part = "xks key store " + entry.name;
    xks::XksKeyStore store;
    store.name = entry.name;
    store.uri_path_prefix = entry.uri_path_prefix;
    store.region = entry.region;
    store.rate_limit = {entry.rate_limit_rps,
                        std::max(entry.rate_limit_burst, entry.rate_limit_rps)};
    auto credentials = LoadXksCredentials(entry);
    if (!credentials) return PartFailed(part + " credentials", credentials.error());
    store.credentials = std::move(*credentials);
    auto compiled = LoadXksPolicy(entry);
    if (!compiled) return PartFailed(part + " policy", compiled.error());
    store.policy = std::move(*compiled);
    std::vector<std::string> token_names;
    auto service_of = [&](const std::string& name) -> hsm::Pkcs11KeyService* {
      for (auto& [token_name, service] : tokens) {
        if (token_name == name) return service.get();
      }
      return nullptr;
    };
    for (const XksKeyConfig& key : entry.keys) {
      hsm::Pkcs11KeyService* service = service_of(key.token);
      if (service == nullptr) return MakeError(ErrorCode::kInvalidArgument, part + ": bad token");
      if (key.create_if_missing) {
        if (auto st = service->EnsureLabeledAesKey(key.label); !st) {
          return PartFailed(part + " key " + key.id, st.error());
        }
      }
      store.keys[key.id] = xks::XksKey{key.id,
                                       key.token,
                                       key.label,
                                       key.encrypt,
                                       key.decrypt,
                                       key.enabled,
                                       key.allowed_principals,
                                       service};
      if (std::find(token_names.begin(), token_names.end(), key.token) == token_names.end())
        token_names.push_back(key.token);
    }
    if (token_names.empty()) token_names.push_back(tokens.front().first);
    for (const std::string& name : token_names) {
      std::string label;
      for (const auto& t : config.tokens) {
        if (t.name == name) label = t.label;
      }
      store.tokens.push_back({name, "PKCS#11 token " + label, service_of(name)});
    }
    stores.push_back(std::move(store));
  }
  xks::XksOptions options;
  options.ekm_vendor = config.xks.ekm_vendor;
  options.fleet_size = config.xks.fleet_size;
  xks_handler = std::make_unique<xks::XksHandler>(std::move(options), std::move(stores),
                                                  xks::XksDependencies{audit_log.get(), clock});
  return {};
}

api::ApiOptions App::Parts::ApiOptionsFor(bool serve_api, bool serve_ops) const {
  api::ApiOptions options;
  options.serve_api = serve_api;
  options.serve_ops = serve_ops;
  for (const TenantConfig& tenant : config.tenants) {
    if (tenant.rate_limit_rps > 0) {
      options.rate_limits[tenant.name] = {tenant.rate_limit_rps,
                                          std::max(tenant.rate_limit_burst, tenant.rate_limit_rps)};
    }
  }
  return options;
}

std::vector<api::ReadinessCheck> App::Parts::ReadinessChecks() {
  std::vector<api::ReadinessCheck> checks;
  for (auto& [name, service] : tokens) {
    hsm::KeyService* keys = service.get();
    checks.push_back({"token:" + name, [keys] { return keys->CheckHealth(); }});
  }
  store::RecordStore* records = store.get();
  checks.push_back({"store", [records] { return records->CheckHealth(); }});
  audit::AuditLog* log = audit_log.get();
  checks.push_back({"audit", [log]() -> Status {
                      if (log->Healthy()) return {};
                      return MakeError(ErrorCode::kAuditUnavailable, "audit sink not writable");
                    }});
  return checks;
}

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

App::~App() { Stop(); }

Result<std::unique_ptr<App>> App::Create(Config config) {
  auto parts = std::make_unique<Parts>();
  parts->config = std::move(config);
  Parts& p = *parts;

  // Before anything touches a token: a second kmsd on this store stops here.
  std::error_code ec;
  fs::create_directories(fs::path(p.config.store.path).parent_path(), ec);
  auto store_lock = FileLock::Acquire(p.config.store.path + ".lock", ErrorCode::kStoreUnavailable);
  if (!store_lock && store_lock.error().code == ErrorCode::kConflict) {
    return MakeError(ErrorCode::kConflict, "store " + p.config.store.path +
                                               " is in use by another kmsd process (it holds " +
                                               p.config.store.path + ".lock)");
  }
  if (!store_lock) return PartFailed("store lock", store_lock.error());
  p.store_lock.emplace(std::move(*store_lock));

  for (const TokenConfigEntry& entry : p.config.tokens) {
    auto pin_path = ResolveSecretPath(entry.pin);
    if (!pin_path) return PartFailed("token " + entry.name, pin_path.error());
    hsm::TokenConfig token;
    token.module_path = entry.module;
    token.token_label = entry.label;
    token.pin_file = *pin_path;
    token.kek_label_prefix = entry.kek_label_prefix;
    token.pool_size = entry.pool_size;
    auto service = hsm::OpenPkcs11KeyService(token);
    if (!service) return PartFailed("token " + entry.name, service.error());
    if (auto healthy = (*service)->CheckHealth(); !healthy) {
      return PartFailed("token " + entry.name + " wrap/unwrap check", healthy.error());
    }
    p.tokens.emplace_back(entry.name, std::move(*service));
  }
  if (p.tokens.empty()) return MakeError(ErrorCode::kInvalidArgument, "no token configured");

  // The broker reaches each token through a metered wrapper, so /metrics
  // shows the token's own latency; the pools are sampled at each scrape.
  p.metrics = std::make_shared<api::Metrics>();
  std::map<std::string, std::shared_ptr<hsm::KeyService>> metered;
  for (auto& [name, service] : p.tokens) {
    metered[name] = std::make_shared<api::MeteredKeyService>(name, service, p.metrics);
    hsm::Pkcs11KeyService* pooled = service.get();
    p.metrics->AddTokenPool(name, [pooled] {
      const auto o = pooled->pool().occupancy();
      return api::Metrics::PoolSample{o.open, o.in_use, o.size};
    });
  }
  // Dev mode: every tenant on the dev token, provisioned on first use.
  p.router = std::make_unique<broker::TenantRouter>(
      p.config.dev_mode ? metered.at(p.tokens.front().first) : nullptr);
  for (const TenantConfig& tenant : p.config.tenants) {
    if (const auto it = metered.find(tenant.token); it != metered.end()) {
      p.router->Add(tenant.name, it->second);
    }
  }

  auto store = store::SqliteRecordStore::Open({.path = p.config.store.path});
  if (!store) return PartFailed("store " + p.config.store.path, store.error());
  p.store = std::move(*store);
  if (auto healthy = p.store->CheckHealth(); !healthy) return PartFailed("store", healthy.error());

  auto signer = audit::KeyServiceCheckpointSigner::Create(*p.tokens.front().second);
  if (!signer) return PartFailed("audit signer", signer.error());
  p.checkpoint_signer = std::move(*signer);
  audit::AuditLogOptions audit_options;
  audit_options.dir = p.config.audit.dir;
  audit_options.max_file_bytes = p.config.audit.max_file_bytes;
  audit_options.checkpoint_every = p.config.audit.checkpoint_every_events;
  audit_options.checkpoint_interval = p.config.audit.checkpoint_every;
  audit_options.forward_to_journald = p.config.audit.journald;
  auto log = audit::AuditLog::Open(audit_options, p.checkpoint_signer);
  if (!log) return PartFailed("audit log " + p.config.audit.dir, log.error());
  p.audit_log = std::move(*log);
  p.audit_sink = std::make_unique<broker::AuditLogSink>(*p.audit_log);
  p.audit_public_key = fs::path(p.config.audit.dir) / "audit-signer.pub.pem";
  if (auto st = WritePublicKeyPem(p.checkpoint_signer->public_key_der(), p.audit_public_key); !st) {
    return PartFailed("audit signer", st.error());
  }

  auto idp_keys = LoadJwks(p.config.identity.jwks_file, jose::kAllAlgorithms);
  if (!idp_keys) return PartFailed("identity provider keys", idp_keys.error());
  jose::IdentityVerifierConfig identity;
  identity.issuer = p.config.identity.issuer;
  identity.audience = p.config.identity.audience;
  identity.leeway = p.config.identity.leeway;
  identity.tenant_claim = p.config.identity.tenant_claim;
  identity.roles_claim = p.config.identity.roles_claim;
  for (const auto& [claim, role] : p.config.identity.role_map) {
    identity.role_mapping[claim] = role == "encrypt"   ? jose::Role::kEncrypt
                                   : role == "decrypt" ? jose::Role::kDecrypt
                                                       : jose::Role::kAdmin;
  }
  p.identity = std::make_unique<jose::IdentityVerifier>(identity, *idp_keys);

  p.authorization = std::make_unique<jose::AuthorizationTokenVerifier>(
      jose::AuthorizationVerifierConfig{.broker_id = p.config.authorization.broker_id,
                                        .leeway = p.config.authorization.leeway,
                                        .max_lifetime = p.config.authorization.max_lifetime,
                                        .max_jti_bytes = 128},
      // Durable: a token spent before a restart stays spent.
      std::make_shared<broker::StoreJtiReplayCache>(*p.store));
  if (auto st = p.LoadSigners(); !st) return st.error();

  broker::BrokerOptions broker_options;
  broker_options.keys.rotate_after_wraps = p.config.keys.rotate_after_wraps;
  p.broker = std::make_unique<broker::Broker>(broker_options, *p.router, *p.store, *p.audit_sink,
                                              *p.authorization, p.clock);

  p.metrics->SetAuditLog(p.audit_log.get());
  std::map<std::string, api::ClientCertIdentity, std::less<>> client_certs;
  for (const ClientCertificateConfig& cert : p.config.client_certificates) {
    policy::RoleSet roles = 0;
    for (const std::string& role : cert.roles) {
      roles |= role == "encrypt"   ? policy::kRoleEncrypt
               : role == "decrypt" ? policy::kRoleDecrypt
                                   : policy::kRoleAdmin;
    }
    client_certs[cert.sha256] = {cert.tenant, cert.principal, roles};
  }
  const bool separate_ops = p.config.server.ops_listen.has_value();
  p.api_handler = std::make_unique<api::ApiHandler>(
      p.ApiOptionsFor(true, !separate_ops),
      api::ApiDependencies{*p.broker, *p.identity, *p.audit_log, p.clock, client_certs,
                           p.ReadinessChecks(), p.metrics});
  if (separate_ops) {
    p.ops_handler = std::make_unique<api::ApiHandler>(
        p.ApiOptionsFor(false, true),
        api::ApiDependencies{*p.broker, *p.identity, *p.audit_log, p.clock, client_certs,
                             p.ReadinessChecks(), p.metrics});
  }
  if (auto st = p.CreateXks(); !st) return st.error();
  if (p.xks_handler) p.front = std::make_unique<xks::FrontSplitter>(*p.xks_handler, *p.api_handler);
  return std::unique_ptr<App>(new App(std::move(parts)));
}

Status App::Start() {
  Parts& p = *parts_;
  std::string key_path;
  if (p.config.tls.enabled) {
    auto resolved = ResolveSecretPath(p.config.tls.key);
    if (!resolved) return PartFailed("tls key", resolved.error());
    key_path = *resolved;
  }
  auto api_config = HttpConfigOf(p.config, p.config.server.listen, "api", key_path);
  api_config.allow_insecure_plain_http = !p.config.tls.enabled;  // loopback only, checked earlier
  http::Handler& api_front =
      p.front ? static_cast<http::Handler&>(*p.front) : static_cast<http::Handler&>(*p.api_handler);
  p.api_server = std::make_unique<http::Server>(api_config, api_front, p.metrics.get());
  if (auto st = p.api_server->Start(); !st) return PartFailed("api listener", st.error());
  if (p.ops_handler) {
    auto ops_config = HttpConfigOf(p.config, *p.config.server.ops_listen, "ops", key_path);
    ops_config.allow_insecure_plain_http = !p.config.tls.enabled;
    p.ops_server = std::make_unique<http::Server>(ops_config, *p.ops_handler, p.metrics.get());
    if (auto st = p.ops_server->Start(); !st) return PartFailed("ops listener", st.error());
  }
  return {};
}

Status App::Reload() {
  Parts& p = *parts_;
  std::vector<std::string> failures;
  if (auto st = p.broker->policies().Reload(); !st)
    failures.push_back("policies: " + st.error().message);
  if (auto keys = LoadJwks(p.config.identity.jwks_file, jose::kAllAlgorithms); keys) {
    p.identity->ReplaceKeys(*keys);
  } else {
    failures.push_back("identity provider keys: " + keys.error().message);
  }
  if (auto st = p.LoadSigners(); !st) failures.push_back(st.error().message);
  if (p.xks_handler) {
    for (const XksKeyStoreConfig& store : p.config.xks.key_stores) {
      auto credentials = LoadXksCredentials(store);
      if (!credentials) {
        failures.push_back("xks key store " + store.name +
                           " credentials: " + credentials.error().message);
      } else if (auto st = p.xks_handler->SetCredentials(store.name, std::move(*credentials));
                 !st) {
        failures.push_back("xks key store " + store.name + ": " + st.error().message);
      }
      if (auto compiled = LoadXksPolicy(store); !compiled) {
        failures.push_back("xks key store " + store.name + " policy: " + compiled.error().message);
      } else if (auto st = p.xks_handler->SetPolicy(store.name, std::move(*compiled)); !st) {
        failures.push_back("xks key store " + store.name + ": " + st.error().message);
      }
    }
  }
  if (p.config.tls.enabled) {
    if (auto st = p.api_server->ReloadTls(); !st) failures.push_back("tls: " + st.error().message);
    if (p.ops_server) {
      if (auto st = p.ops_server->ReloadTls(); !st)
        failures.push_back("tls: " + st.error().message);
    }
  }
  if (failures.empty()) return {};
  std::string message = "reload kept the previous state of: ";
  for (std::size_t i = 0; i < failures.size(); ++i) message += (i ? "; " : "") + failures[i];
  return MakeError(ErrorCode::kInvalidArgument, message);
}

void App::Stop() {
  if (!parts_) return;
  if (parts_->api_server) parts_->api_server->Stop();
  if (parts_->ops_server) parts_->ops_server->Stop();
  if (parts_->api_handler) parts_->api_handler->FlushAuthnFailures();
  if (parts_->audit_log) parts_->audit_log->Close();
}

void App::Tick() {
  if (parts_->api_handler) parts_->api_handler->FlushAuthnFailures();
}

std::uint16_t App::api_port() const {
  return parts_->api_server ? parts_->api_server->BoundPort(0) : 0;
}

std::vector<std::string> App::Summary() const {
  const Parts& p = *parts_;
  std::vector<std::string> lines;
  const std::string scheme = p.config.tls.enabled ? "https" : "http";
  lines.push_back("API:          " + scheme + "://" + p.config.server.listen.address + ":" +
                  std::to_string(api_port()));
  if (p.ops_server) {
    lines.push_back("ops:          " + scheme + "://" + p.config.server.ops_listen->address + ":" +
                    std::to_string(p.ops_server->BoundPort(0)) + " (/healthz /readyz /metrics)");
  }
  for (const auto& token : p.config.tokens) {
    lines.push_back("token:        " + token.label + " via " + token.module);
  }
  for (const auto& store : p.config.xks.key_stores) {
    lines.push_back("XKS:          " + scheme + "://" + p.config.server.listen.address + ":" +
                    std::to_string(api_port()) + store.uri_path_prefix + "/kms/xks/v1 (key store " +
                    store.name + ", region " + store.region + ", " +
                    std::to_string(store.keys.size()) + " keys)");
  }
  lines.push_back("store:        " + p.config.store.path);
  lines.push_back("audit log:    " + p.config.audit.dir + " (verify with " +
                  p.audit_public_key.string() + ")");
  lines.push_back("identity:     issuer " + p.config.identity.issuer + ", keys " +
                  p.config.identity.jwks_file);
  return lines;
}

}  // namespace kmsd::daemon
