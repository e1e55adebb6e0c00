#include "daemon/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "broker/tenant_router.h"
#include "daemon/api_paths.h"

namespace kmsd::daemon {
namespace {

// Reads typed keys from one TOML table, records every problem with its path,
// and afterwards reports the keys nobody asked for.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, std::vector<std::string>& problems)
      : table_(table), path_(std::move(path)), problems_(problems) {}
  TableReader(const TableReader&) = delete;

  ~TableReader() {
    for (const auto& [key, node] : table_) {
      if (!known_.contains(std::string(key.str()))) {
        Problem(std::string(key.str()), "unknown key");
      }
    }
  }

  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  void Problem(std::string_view key, std::string_view what) {
    problems_.push_back(Path(key) + ": " + std::string(what));
  }

  void String(std::string_view key, std::string& out, bool required = false) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (required) Problem(key, "is required");
      return;
    }
    if (const auto value = node->value<std::string>(); value && node->is_string()) {
      out = *value;
      if (required && out.empty()) Problem(key, "must not be empty");
    } else {
      Problem(key, "must be a string");
    }
  }

  // An optional name (a default stands in when absent): when given, not
  // empty and no spaces or control characters (a claim named "" or " " is in
  // no token, and a NUL cuts a PKCS#11 label short).
  void Name(std::string_view key, std::string& out) {
    const bool given = table_.get(key) != nullptr;
    String(key, out);
    const bool blank_or_control = std::any_of(out.begin(), out.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u <= 0x20 || u == 0x7f;
    });
    if (given && (out.empty() || blank_or_control)) {
      Problem(key, "must not be empty or hold spaces or control characters");
    }
  }

  void Bool(std::string_view key, bool& out) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (!node->is_boolean()) return Problem(key, "must be true or false");
    out = *node->value<bool>();
  }

  template <class Int>
  void Integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (!node->is_integer()) return Problem(key, "must be an integer");
    const std::int64_t value = *node->value<std::int64_t>();
    if (value < min || value > max) {
      return Problem(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    out = static_cast<Int>(value);
  }

  void Number(std::string_view key, double& out, double min, double max) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (!node->is_number()) return Problem(key, "must be a number");
    const double value = *node->value<double>();
    if (!(value >= min && value <= max)) return Problem(key, "is out of range");
    out = value;
  }

  template <class Duration>
  void Seconds(std::string_view key, Duration& out, std::int64_t min, std::int64_t max) {
    std::int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(out).count();
    Integer(key, seconds, min, max);
    out = std::chrono::duration_cast<Duration>(std::chrono::seconds(seconds));
  }

  void Millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t min,
              std::int64_t max) {
    std::int64_t millis = out.count();
    Integer(key, millis, min, max);
    out = std::chrono::milliseconds(millis);
  }

  // A secret given as `<key>_file` or `<key>_credential`, never inline.
  void Secret(std::string_view key, SecretSource& out, bool required) {
    const std::string file_key = std::string(key) + "_file";
    const std::string credential_key = std::string(key) + "_credential";
    String(file_key, out.file);
    String(credential_key, out.credential);
    known_.insert(std::string(key));
    if (table_.contains(key))
      Problem(key, "secrets are never inline: use " + file_key + " or " + credential_key);
    if (!out.file.empty() && !out.credential.empty()) {
      Problem(key, "give only one of " + file_key + " and " + credential_key);
    }
    if (!out.file.empty() && !std::filesystem::path(out.file).is_absolute()) {
      Problem(file_key, "must be an absolute path");
    }
    if (!out.credential.empty() && out.credential.find('/') != std::string::npos) {
      Problem(credential_key, "must be a credential name, not a path");
    }
    if (required && out.empty())
      Problem(key, "is required (" + file_key + " or " + credential_key + ")");
  }

  // An array of strings (absent: `out` unchanged).
  void StringArray(std::string_view key, std::vector<std::string>& out) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Problem(key, "must be an array of strings");
    std::vector<std::string> values;
    for (const toml::node& item : *array) {
      if (!item.is_string()) return Problem(key, "must be an array of strings");
      values.push_back(*item.value<std::string>());
    }
    out = std::move(values);
  }

  // A sub-table, or nullptr when absent (a non-table is a problem).
  const toml::table* Table(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      Problem(key, "must be a table");
      return nullptr;
    }
    return node->as_table();
  }

  const toml::array* ArrayOfTables(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      Problem(key, "must be an array of tables ([[" + std::string(key) + "]])");
      return nullptr;
    }
    return array;
  }

 private:
  const toml::table& table_;
  std::string path_;
  std::vector<std::string>& problems_;
  std::set<std::string> known_;
};

void ReadListener(TableReader& parent, std::string_view key, ListenerConfig& out,
                  std::vector<std::string>& problems) {
  std::string text;
  parent.String(key, text);
  if (text.empty()) return;
  const auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  if (colon != std::string::npos) {
    try {
      std::size_t used = 0;
      port = std::stoi(text.substr(colon + 1), &used);
      if (used != text.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
      port = -1;
    }
  }
  in_addr v4{};
  in6_addr v6{};
  const bool numeric =
      inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  if (host.empty() || port < 0 || port > 65535) {
    problems.push_back(parent.Path(key) + ": must be HOST:PORT (e.g. 127.0.0.1:8443)");
    return;
  }
  if (!numeric) {
    // The listener binds an address, never a name the resolver could change.
    problems.push_back(parent.Path(key) + ": HOST must be an IP address (e.g. 127.0.0.1 or [::1])");
    return;
  }
  out.address = host;
  out.port = static_cast<std::uint16_t>(port);
}

void ReadServer(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "server", problems);
  ServerConfig& s = config.server;
  ReadListener(r, "listen", s.listen, problems);
  if (table.contains("ops_listen")) {
    s.ops_listen.emplace();
    ReadListener(r, "ops_listen", *s.ops_listen, problems);
  } else {
    std::string ignored;
    r.String("ops_listen", ignored);
  }
  r.Integer("io_threads", s.io_threads, 1, 64);
  r.Integer("worker_threads", s.worker_threads, 1, 256);
  r.Integer("max_connections", s.max_connections, 1, 100000);
  r.Integer("header_limit_bytes", s.header_limit_bytes, 1024, 1 << 20);
  r.Integer("body_limit_bytes", s.body_limit_bytes, 1024, 16 << 20);
  r.Millis("header_timeout_ms", s.header_timeout, 100, 600'000);
  r.Millis("body_timeout_ms", s.body_timeout, 100, 600'000);
  r.Millis("idle_timeout_ms", s.idle_timeout, 100, 3'600'000);
}

void ReadTls(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "tls", problems);
  TlsConfig& t = config.tls;
  r.Bool("enabled", t.enabled);
  r.String("cert_file", t.cert_file, t.enabled);
  r.Secret("key", t.key, t.enabled);
  r.String("client_ca_file", t.client_ca_file);
  r.StringArray("client_subject_cns", t.client_subject_cns);
  if (!t.client_subject_cns.empty() && t.client_ca_file.empty())
    r.Problem("client_subject_cns", "needs client_ca_file (mutual TLS)");
  for (const auto& cn : t.client_subject_cns) {
    if (cn.empty()) r.Problem("client_subject_cns", "must not contain an empty name");
  }
}

void ReadStore(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "store", problems);
  r.String("backend", config.store.backend);
  r.String("path", config.store.path);
  if (!config.store.path.empty() && !std::filesystem::path(config.store.path).is_absolute()) {
    r.Problem("path", "must be an absolute path");
  }
  if (config.store.backend != "sqlite") r.Problem("backend", "must be \"sqlite\"");
}

void ReadAudit(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "audit", problems);
  AuditConfig& a = config.audit;
  r.String("dir", a.dir);
  if (!a.dir.empty() && !std::filesystem::path(a.dir).is_absolute()) {
    r.Problem("dir", "must be an absolute path");
  }
  // audit::kMaxAuditFileBytes: after a crash, start-up reads the newest file whole.
  r.Integer("max_file_bytes", a.max_file_bytes, 1 << 16, std::int64_t(1) << 30);
  r.Integer("checkpoint_every_events", a.checkpoint_every_events, 1, 100'000'000);
  r.Seconds("checkpoint_every_seconds", a.checkpoint_every, 1, 86'400);
  r.Bool("journald", a.journald);
}

void ReadIdentity(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "identity", problems);
  IdentityConfig& id = config.identity;
  r.String("issuer", id.issuer, true);
  r.String("audience", id.audience, true);
  r.String("jwks_file", id.jwks_file, true);
  r.Seconds("leeway_seconds", id.leeway, 0, 600);
  r.Name("tenant_claim", id.tenant_claim);
  r.Name("roles_claim", id.roles_claim);
  if (const toml::table* map = r.Table("role_map")) {
    for (const auto& [claim_value, node] : *map) {
      const auto role = node.value<std::string>();
      const std::string path = "identity.role_map." + std::string(claim_value.str());
      if (!role || !node.is_string() ||
          (*role != "encrypt" && *role != "decrypt" && *role != "admin")) {
        problems.push_back(path + ": must be \"encrypt\", \"decrypt\" or \"admin\"");
      } else {
        id.role_map[std::string(claim_value.str())] = *role;
      }
    }
  }
}

void ReadAuthorization(const toml::table& table, Config& config,
                       std::vector<std::string>& problems) {
  TableReader r(table, "authorization", problems);
  r.String("broker_id", config.authorization.broker_id);
  // The `aud` every authorization token must carry: empty would accept
  // tokens minted for no broker at all.
  if (config.authorization.broker_id.empty()) r.Problem("broker_id", "must not be empty");
  r.Seconds("max_lifetime_seconds", config.authorization.max_lifetime, 1, 3600);
  r.Seconds("leeway_seconds", config.authorization.leeway, 0, 600);
}

void ReadTokens(const toml::array& array, Config& config, std::vector<std::string>& problems) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < array.size(); ++i) {
    TableReader r(*array[i].as_table(), "tokens[" + std::to_string(i) + "]", problems);
    TokenConfigEntry token;
    r.String("name", token.name, true);
    r.String("module", token.module);
    r.String("label", token.label, true);
    r.Secret("pin", token.pin, true);
    r.Integer("pool_size", token.pool_size, 1, 256);
    r.Name("kek_label_prefix", token.kek_label_prefix);
    if (!token.name.empty() && !names.insert(token.name).second) r.Problem("name", "is used twice");
    if (!std::filesystem::path(token.module).is_absolute())
      r.Problem("module", "must be an absolute path");
    config.tokens.push_back(std::move(token));
  }
}

void ReadTenants(const toml::array& array, Config& config, std::vector<std::string>& problems) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < array.size(); ++i) {
    TableReader r(*array[i].as_table(), "tenants[" + std::to_string(i) + "]", problems);
    TenantConfig tenant;
    r.String("name", tenant.name, true);
    r.String("token", tenant.token, true);
    r.String("signers_jwks_file", tenant.signers_jwks_file, true);
    r.String("signers_issuer", tenant.signers_issuer, true);
    r.Number("rate_limit_rps", tenant.rate_limit_rps, 0, 1e6);
    r.Number("rate_limit_burst", tenant.rate_limit_burst, 0, 1e7);
    if (!tenant.name.empty() && !broker::IsValidTenantName(tenant.name))
      r.Problem("name", "must be 1..64 of A-Z a-z 0-9 . _ -, not starting with _ or .");
    if (!tenant.signers_jwks_file.empty() &&
        !std::filesystem::path(tenant.signers_jwks_file).is_absolute())
      r.Problem("signers_jwks_file", "must be an absolute path");
    if (!tenant.name.empty() && !names.insert(tenant.name).second)
      r.Problem("name", "is used twice");
    const bool token_known = std::any_of(config.tokens.begin(), config.tokens.end(),
                                         [&](const auto& t) { return t.name == tenant.token; });
    if (!tenant.token.empty() && !token_known) r.Problem("token", "names no [[tokens]] entry");
    config.tenants.push_back(std::move(tenant));
  }
}

// "AB:CD:..." (openssl x509 -fingerprint) or "abcd..." → "abcd..."; empty
// when not 32 bytes of hex.
std::string CanonicalFingerprint(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return hex.size() == 64 ? hex : std::string();
}

void ReadClientCertificates(const toml::array& array, Config& config,
                            std::vector<std::string>& problems) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < array.size(); ++i) {
    TableReader r(*array[i].as_table(), "client_certificates[" + std::to_string(i) + "]", problems);
    ClientCertificateConfig cert;
    std::string fingerprint;
    r.String("sha256", fingerprint, true);
    r.String("tenant", cert.tenant, true);
    r.String("principal", cert.principal, true);
    r.StringArray("roles", cert.roles);
    if (!fingerprint.empty()) {
      cert.sha256 = CanonicalFingerprint(fingerprint);
      if (cert.sha256.empty()) {
        r.Problem("sha256", "must be the certificate's SHA-256 fingerprint (64 hex digits)");
      } else if (!seen.insert(cert.sha256).second) {
        r.Problem("sha256", "is mapped twice");
      }
    }
    if (cert.roles.empty()) r.Problem("roles", "is required (encrypt, decrypt, admin)");
    for (const std::string& role : cert.roles) {
      if (role != "encrypt" && role != "decrypt" && role != "admin") {
        r.Problem("roles", "must list only \"encrypt\", \"decrypt\" or \"admin\"");
        break;
      }
    }
    const bool tenant_known =
        std::any_of(config.tenants.begin(), config.tenants.end(),
                    [&](const TenantConfig& t) { return t.name == cert.tenant; });
    if (!cert.tenant.empty() && !tenant_known) r.Problem("tenant", "names no [[tenants]] entry");
    config.client_certificates.push_back(std::move(cert));
  }
}

bool NameChars(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

bool UriPrefixOk(std::string_view p) {
  if (p.empty()) return true;
  if (p.front() != '/' || p.back() == '/' || p.size() > 116)
    return false;  // + "/kms/xks/v1" <= 128
  if (p.find("//") != std::string_view::npos) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '_' || c == '-';
  });
}

void ReadXksKeys(const toml::array& array, const std::string& path, const Config& config,
                 XksKeyStoreConfig& store, std::vector<std::string>& problems) {
  std::set<std::string> ids;
  for (std::size_t i = 0; i < array.size(); ++i) {
    TableReader r(*array[i].as_table(), path + "[" + std::to_string(i) + "]", problems);
    XksKeyConfig key;
    r.String("id", key.id, true);
    r.String("token", key.token, true);
    r.String("label", key.label, true);
    std::vector<std::string> operations{"encrypt", "decrypt"};
    r.StringArray("operations", operations);
    key.encrypt = key.decrypt = false;
    for (const auto& op : operations) {
      if (op == "encrypt" && !key.encrypt) {
        key.encrypt = true;
      } else if (op == "decrypt" && !key.decrypt) {
        key.decrypt = true;
      } else {
        r.Problem("operations", "may hold \"encrypt\" and \"decrypt\", each once");
      }
    }
    r.Bool("enabled", key.enabled);
    r.StringArray("allowed_principals", key.allowed_principals);
    r.Bool("create_if_missing", key.create_if_missing);
    if (!key.id.empty() && !NameChars(key.id, 128))
      r.Problem("id", "must be 1..128 of A-Z a-z 0-9 . _ -");
    if (!key.id.empty() && !ids.insert(key.id).second) r.Problem("id", "is used twice");
    if (key.label.size() > 64) r.Problem("label", "must be at most 64 bytes");
    const bool token_known = std::any_of(config.tokens.begin(), config.tokens.end(),
                                         [&](const auto& t) { return t.name == key.token; });
    if (!key.token.empty() && !token_known) r.Problem("token", "names no [[tokens]] entry");
    for (const auto& p : key.allowed_principals) {
      if (p.empty() || p.size() > 2048)
        r.Problem("allowed_principals", "entries are 1..2048 bytes");
    }
    store.keys.push_back(std::move(key));
  }
}

void ReadXks(const toml::table& table, Config& config, std::vector<std::string>& problems) {
  TableReader r(table, "xks", problems);
  r.String("ekm_vendor", config.xks.ekm_vendor);
  r.Integer("fleet_size", config.xks.fleet_size, 1, 1000);
  const toml::array* stores = r.ArrayOfTables("key_stores");
  if (stores == nullptr) return;
  std::set<std::string> names, prefixes;
  for (std::size_t i = 0; i < stores->size(); ++i) {
    const std::string path = "xks.key_stores[" + std::to_string(i) + "]";
    TableReader s(*(*stores)[i].as_table(), path, problems);
    XksKeyStoreConfig store;
    s.String("name", store.name, true);
    s.String("uri_path_prefix", store.uri_path_prefix);
    s.String("region", store.region);
    s.Number("rate_limit_rps", store.rate_limit_rps, 0, 1e6);
    s.Number("rate_limit_burst", store.rate_limit_burst, 0, 1e7);
    s.String("policy_file", store.policy_file);
    if (!store.policy_file.empty() && !std::filesystem::path(store.policy_file).is_absolute())
      s.Problem("policy_file", "must be an absolute path");
    if (!store.name.empty() && !NameChars(store.name, 64))
      s.Problem("name", "must be 1..64 of A-Z a-z 0-9 . _ -");
    if (!store.name.empty() && !names.insert(store.name).second) s.Problem("name", "is used twice");
    if (!UriPrefixOk(store.uri_path_prefix))
      s.Problem("uri_path_prefix", "must be empty or /segments of A-Z a-z 0-9 _ - (no trailing /)");
    else if (IsApiPath(store.uri_path_prefix))  // the splitter would never route it to XKS
      s.Problem("uri_path_prefix", "must not be /v1 or under it (the API's paths)");
    else if (!prefixes.insert(store.uri_path_prefix).second)
      s.Problem("uri_path_prefix", "is used twice");
    if (!NameChars(store.region, 32)) s.Problem("region", "must be an AWS region name");
    if (const toml::array* creds = s.ArrayOfTables("credentials")) {
      for (std::size_t c = 0; c < creds->size(); ++c) {
        TableReader cr(*(*creds)[c].as_table(), path + ".credentials[" + std::to_string(c) + "]",
                       problems);
        SecretSource source;
        cr.Secret("sigv4", source, true);
        store.credentials.push_back(std::move(source));
      }
    }
    if (store.credentials.empty() || store.credentials.size() > 8)
      s.Problem("credentials", "must list 1..8 {sigv4_file|sigv4_credential} entries");
    if (const toml::array* keys = s.ArrayOfTables("keys"))
      ReadXksKeys(*keys, path + ".keys", config, store, problems);
    config.xks.key_stores.push_back(std::move(store));
  }
}

}  // namespace

Result<Config> ParseConfig(std::string_view toml_text, ConfigProblems* out_problems) {
  std::vector<std::string> problems;
  Config config;
  toml::table root;
  bool toml_ok = false;
  try {
    root = toml::parse(toml_text);
    toml_ok = true;
  } catch (const toml::parse_error& e) {
    // The parser's description may quote the offending text, and that text
    // may be a secret typed inline by mistake: only its place is named.
    problems.push_back("line " + std::to_string(e.source().begin.line) + ", column " +
                       std::to_string(e.source().begin.column) + ": not valid TOML");
  }
  if (toml_ok) {
    TableReader r(root, "", problems);
    if (const auto* t = r.Table("server")) ReadServer(*t, config, problems);
    if (const auto* t = r.Table("tls"))
      ReadTls(*t, config, problems);
    else
      problems.push_back("tls: is required (set tls.enabled = false only on loopback)");
    if (const auto* t = r.Table("store")) ReadStore(*t, config, problems);
    if (const auto* t = r.Table("audit")) ReadAudit(*t, config, problems);
    if (const auto* t = r.Table("identity"))
      ReadIdentity(*t, config, problems);
    else
      problems.push_back("identity: is required");
    if (const auto* t = r.Table("authorization")) ReadAuthorization(*t, config, problems);
    if (const auto* a = r.ArrayOfTables("tokens")) ReadTokens(*a, config, problems);
    if (const auto* a = r.ArrayOfTables("tenants")) ReadTenants(*a, config, problems);
    if (const auto* a = r.ArrayOfTables("client_certificates")) {
      ReadClientCertificates(*a, config, problems);
    }
    if (const auto* t = r.Table("xks")) ReadXks(*t, config, problems);
    if (const auto* t = r.Table("keys")) {
      TableReader k(*t, "keys", problems);
      k.Integer("rotate_after_wraps", config.keys.rotate_after_wraps, 1, std::int64_t(1) << 31);
    }
    if (config.tokens.empty())
      problems.push_back("tokens: at least one [[tokens]] entry is required");
  }
  // Safety rules that involve several keys, checked beside the single-key
  // problems so that --check-config names every problem at once (a key that
  // failed keeps its safe default here).
  if (toml_ok && !config.tls.enabled) {
    if (!IsLoopbackAddress(config.server.listen.address)) {
      problems.push_back("tls.enabled: plain HTTP is refused on a non-loopback address");
    }
    if (config.server.ops_listen && !IsLoopbackAddress(config.server.ops_listen->address)) {
      problems.push_back(
          "server.ops_listen: plain HTTP is refused on a non-loopback address (tls.enabled = "
          "false)");
    }
  }
  if (toml_ok && config.server.ops_listen &&
      config.server.ops_listen->address == config.server.listen.address &&
      config.server.ops_listen->port == config.server.listen.port &&
      config.server.listen.port != 0) {
    problems.push_back("server.ops_listen: must differ from server.listen (or be left out)");
  }
  for (const auto& [key, file] :
       {std::pair<const char*, const std::string*>{"tls.cert_file", &config.tls.cert_file},
        {"tls.client_ca_file", &config.tls.client_ca_file},
        {"identity.jwks_file", &config.identity.jwks_file}}) {
    if (!file->empty() && !std::filesystem::path(*file).is_absolute()) {
      problems.push_back(std::string(key) + ": must be an absolute path");
    }
  }
  if (toml_ok && !config.tls.enabled && !config.tls.client_ca_file.empty()) {
    problems.push_back("tls.client_ca_file: mutual TLS needs tls.enabled = true");
  }
  if (toml_ok && !config.client_certificates.empty() && config.tls.client_ca_file.empty()) {
    problems.push_back(
        "client_certificates: need mutual TLS (tls.client_ca_file) to verify the certificates");
  }
  if (out_problems != nullptr) out_problems->problems = problems;
  if (!problems.empty()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        std::to_string(problems.size()) + " configuration problem(s): " + problems.front());
  }
  return config;
}

bool IsLoopbackAddress(const std::string& address) {
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Result<Config> LoadConfigFile(const std::filesystem::path& path, ConfigProblems* problems) {
  std::error_code ec;
  std::ifstream in(path, std::ios::binary);
  // A directory opens as an empty stream: it is unreadable as a file.
  if (!in || std::filesystem::is_directory(path, ec)) {
    if (problems != nullptr) problems->problems = {path.string() + ": cannot be read"};
    return MakeError(ErrorCode::kInvalidArgument,
                     "config file " + path.string() + " cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), problems);
}

namespace {
std::string Describe(const SecretSource& s) {
  if (!s.file.empty()) return "file:" + s.file;
  if (!s.credential.empty()) return "credential:" + s.credential;
  return "(none)";
}
}  // namespace

std::string DumpConfigRedacted(const Config& c) {
  std::ostringstream out;
  out << "server.listen=" << c.server.listen.address << ":" << c.server.listen.port;
  if (c.server.ops_listen)
    out << " server.ops_listen=" << c.server.ops_listen->address << ":"
        << c.server.ops_listen->port;
  out << " io_threads=" << c.server.io_threads << " worker_threads=" << c.server.worker_threads
      << " body_limit=" << c.server.body_limit_bytes
      << " header_limit=" << c.server.header_limit_bytes << " tls.enabled=" << c.tls.enabled
      << " tls.key=" << Describe(c.tls.key) << " mtls=" << !c.tls.client_ca_file.empty()
      << " store=" << c.store.backend << ":" << c.store.path << " audit.dir=" << c.audit.dir
      << " identity.issuer=" << c.identity.issuer
      << " authorization.broker_id=" << c.authorization.broker_id;
  for (const auto& t : c.tokens) {
    out << " token[" << t.name << "]=" << t.label << "@" << t.module << " pin=" << Describe(t.pin)
        << " pool=" << t.pool_size;
  }
  for (const auto& t : c.tenants) out << " tenant[" << t.name << "]->" << t.token;
  for (const auto& cert : c.client_certificates) {
    out << " client_certificate[" << cert.sha256.substr(0, 16) << "...]->" << cert.tenant << "/"
        << cert.principal;
  }
  for (const auto& x : c.xks.key_stores) {
    out << " xks[" << x.name << "]=" << x.uri_path_prefix << "/kms/xks/v1 region=" << x.region
        << " credentials=";
    for (std::size_t i = 0; i < x.credentials.size(); ++i)
      out << (i ? "," : "") << Describe(x.credentials[i]);
    out << " keys=" << x.keys.size();
  }
  return out.str();
}

}  // namespace kmsd::daemon
