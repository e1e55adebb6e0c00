// UnreadableFiles: what --check-config warns about beyond the file's own
// problems (daemon/config.h).
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/secret_file.h"
#include "daemon/config.h"
#include "daemon/jwks_file.h"

namespace kmsd::daemon {
namespace {

// Names a file that cannot be read, or is a directory (every key checked
// here names a file); true when its content can be checked further.
bool Check(std::vector<std::string>& out, const std::string& key, const std::string& file) {
  if (file.empty()) return false;
  if (::access(file.c_str(), R_OK) != 0) {
    out.push_back(key + ": " + file + ": " + std::strerror(errno));
    return false;
  }
  if (std::error_code ec; std::filesystem::is_directory(file, ec)) {
    out.push_back(key + ": " + file + ": is a directory");
    return false;
  }
  return true;
}

// A PKCS#11 module is a shared library: a file without the ELF magic (a PIN
// file named by mistake) would fail the start-up's dlopen.
void CheckModule(std::vector<std::string>& out, const std::string& key, const std::string& file) {
  std::array<char, 4> magic{};
  std::ifstream in(file, std::ios::binary);
  in.read(magic.data(), magic.size());
  if (!in || magic != std::array<char, 4>{'\x7f', 'E', 'L', 'F'}) {
    out.push_back(key + ": " + file + ": not a shared library (no ELF header)");
  }
}

// A certificate file (or CA bundle) must hold at least one PEM certificate;
// a key file named in its place would stop the start-up.
void CheckCertificates(std::vector<std::string>& out, const std::string& key,
                       const std::string& file) {
  BIO* bio = BIO_new_file(file.c_str(), "r");
  X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  if (cert == nullptr) out.push_back(key + ": " + file + ": holds no PEM certificate");
  X509_free(cert);
  BIO_free(bio);
}

// A JWKS file that reads but would stop the start-up (not a key set, or
// one with no key): said now rather than by a failed start.
void CheckJwks(std::vector<std::string>& out, const std::string& key, const std::string& file,
               jose::AlgorithmSet allowed) {
  if (auto set = ReadJwksFile(file, allowed); !set) out.push_back(key + ": " + set.error().message);
}

void CheckSecret(std::vector<std::string>& out, const std::string& key, const SecretSource& s) {
  Check(out, key + "_file", s.file);
  if (!s.file.empty()) {
    if (auto mode = CheckSecretFileMode(s.file, "secret file"); !mode) {
      out.push_back(key + "_file: " + mode.error().message);
    }
  }
  const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
  if (!s.credential.empty() && credentials != nullptr && *credentials != '\0') {
    Check(out, key + "_credential", (std::filesystem::path(credentials) / s.credential).string());
  }
}

}  // namespace

std::vector<std::string> UnreadableFiles(const Config& config) {
  std::vector<std::string> out;
  if (config.tls.enabled) {
    if (Check(out, "tls.cert_file", config.tls.cert_file)) {
      CheckCertificates(out, "tls.cert_file", config.tls.cert_file);
    }
    CheckSecret(out, "tls.key", config.tls.key);
    if (Check(out, "tls.client_ca_file", config.tls.client_ca_file)) {
      CheckCertificates(out, "tls.client_ca_file", config.tls.client_ca_file);
    }
  }
  if (std::error_code ec; std::filesystem::is_directory(config.store.path, ec)) {
    out.push_back("store.path: " + config.store.path + ": is a directory");
  }
  if (Check(out, "identity.jwks_file", config.identity.jwks_file)) {
    CheckJwks(out, "identity.jwks_file", config.identity.jwks_file, jose::kAllAlgorithms);
  }
  for (std::size_t i = 0; i < config.tokens.size(); ++i) {
    const std::string at = "tokens[" + std::to_string(i) + "]";
    if (Check(out, at + ".module", config.tokens[i].module)) {
      CheckModule(out, at + ".module", config.tokens[i].module);
    }
    CheckSecret(out, at + ".pin", config.tokens[i].pin);
  }
  for (std::size_t i = 0; i < config.tenants.size(); ++i) {
    const std::string key = "tenants[" + std::to_string(i) + "].signers_jwks_file";
    if (Check(out, key, config.tenants[i].signers_jwks_file)) {
      CheckJwks(out, key, config.tenants[i].signers_jwks_file, jose::kSignerAlgorithms);
    }
  }
  for (std::size_t i = 0; i < config.xks.key_stores.size(); ++i) {
    const auto& store = config.xks.key_stores[i];
    const std::string at = "xks.key_stores[" + std::to_string(i) + "]";
    Check(out, at + ".policy_file", store.policy_file);
    for (std::size_t c = 0; c < store.credentials.size(); ++c) {
      CheckSecret(out, at + ".credentials[" + std::to_string(c) + "].sigv4", store.credentials[c]);
    }
  }
  return out;
}

}  // namespace kmsd::daemon
