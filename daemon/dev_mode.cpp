#include "daemon/dev_mode.h"

#include <openssl/rand.h>

#include <fstream>

#include "broker/jose/dev_tokens.h"
#include "broker/jose/signer.h"
#include "hsm/dev_token.h"

namespace kmsd::daemon {
namespace {

namespace fs = std::filesystem;

Result<ListenerConfig> ParseLoopbackListen(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidArgument, "--listen must be HOST:PORT");
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port_text(text.substr(colon + 1));
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535)
    return MakeError(ErrorCode::kInvalidArgument, "--listen port must be 0-65535");
  const bool loopback = host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
  if (!loopback) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "dev mode serves plain HTTP and listens on loopback only (127.0.0.0/8 or ::1)");
  }
  return ListenerConfig{host == "localhost" ? "127.0.0.1" : host, static_cast<std::uint16_t>(port)};
}

// Random text over `alphabet` from OpenSSL's RNG (dev credentials only).
std::string RandomText(std::string_view alphabet, std::size_t n) {
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) return {};
  std::string out;
  for (unsigned char b : bytes) out += alphabet[b % alphabet.size()];
  return out;
}

// DIR/xks/sigv4-N.cred: "ACCESS_KEY_ID:SECRET" in the shape AWS KMS accepts
// (20-30 of A-Z2-7; 43-64 of base64 characters), created once, mode 0600.
Result<std::string> EnsureDevXksCredential(const fs::path& dir, int n) {
  const fs::path path = dir / ("sigv4-" + std::to_string(n) + ".cred");
  if (fs::exists(path)) return path.string();
  const std::string id = RandomText("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 24);
  const std::string secret =
      RandomText("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 43);
  if (id.empty() || secret.empty()) return MakeError(ErrorCode::kInternal, "RNG failed");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << id << ':' << secret << '\n';
    if (!out.flush()) return MakeError(ErrorCode::kInternal, "cannot write " + path.string());
  }
  std::error_code ec;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, ec);
  return path.string();
}

}  // namespace

Result<Config> PrepareDevMode(const fs::path& data_dir, std::string_view listen) {
  auto listener = ParseLoopbackListen(listen);
  if (!listener) return listener.error();
  const fs::path dir = fs::absolute(data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "cannot create " + dir.string());
  fs::permissions(dir, fs::perms::owner_all, ec);

  auto token = hsm::EnsureDevToken(dir);
  if (!token) return token.error();
  namespace dev = jose::dev;
  if (auto st = jose::EnsureDevKeyPair(dir / dev::kIdentityKeyFile, dir / dev::kIdentityJwksFile,
                                       std::string(dev::kIdentityKid), dev::kIdentityAlgorithm);
      !st) {
    return st.error();
  }
  if (auto st = jose::EnsureDevKeyPair(dir / dev::kSignerKeyFile, dir / dev::kSignerJwksFile,
                                       std::string(dev::kSignerKid), dev::kSignerAlgorithm);
      !st) {
    return st.error();
  }

  Config config;
  config.dev_mode = true;
  config.dev_data_dir = dir.string();
  config.server.listen = *listener;
  config.tls.enabled = false;
  config.store.path = (dir / "kmsd.db").string();
  config.audit.dir = (dir / "audit").string();
  config.identity.issuer = dev::kIdentityIssuer;
  config.identity.audience = dev::kIdentityAudience;
  config.identity.jwks_file = (dir / dev::kIdentityJwksFile).string();
  config.authorization.broker_id = dev::kBrokerId;
  TokenConfigEntry entry;
  entry.name = "dev";
  entry.module = token->config.module_path;
  entry.label = token->config.token_label;
  entry.pin.file = token->config.pin_file;
  config.tokens.push_back(std::move(entry));
  // An XKS front at /dev/kms/xks/v1 with two credentials and four keys, one
  // per usage the AWS test client exercises (docs/xks.md, "Dev mode").
  const fs::path xks_dir = dir / "xks";
  fs::create_directories(xks_dir, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "cannot create " + xks_dir.string());
  fs::permissions(xks_dir, fs::perms::owner_all, ec);
  XksKeyStoreConfig store;
  store.name = "dev";
  store.uri_path_prefix = std::string(kDevXksPrefix);
  for (int n = 1; n <= 2; ++n) {
    auto path = EnsureDevXksCredential(xks_dir, n);
    if (!path) return path.error();
    store.credentials.push_back(SecretSource{*path, {}});
  }
  struct DevKey {
    const char* id;
    bool encrypt, decrypt;
  };
  for (const DevKey& k :
       {DevKey{"dev-key", true, true}, DevKey{"dev-encrypt-only", true, false},
        DevKey{"dev-decrypt-only", false, true}, DevKey{"dev-no-usage", false, false}}) {
    XksKeyConfig key;
    key.id = k.id;
    key.token = "dev";
    key.label = std::string("kmsd-xks:") + k.id;
    key.encrypt = k.encrypt;
    key.decrypt = k.decrypt;
    key.create_if_missing = true;
    store.keys.push_back(std::move(key));
  }
  config.xks.key_stores.push_back(std::move(store));
  config.dev_signers_jwks_file = (dir / dev::kSignerJwksFile).string();
  config.dev_signers_issuer = dev::kSignerIssuer;
  return config;
}

}  // namespace kmsd::daemon
