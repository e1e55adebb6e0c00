#include "daemon/http/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "common/openssl_ptr.h"
#include "common/secret.h"
#include "common/secret_file.h"

namespace kmsd::http {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 only: forward secrecy and AEAD. TLS 1.3 suites are all AEAD and
// keep OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

Error Invalid(std::string message) {
  ERR_clear_error();  // OpenSSL's queue may name file contents; never surface it
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// Reads the whole file into a Secret (wiped when it goes out of scope).
Result<Secret> ReadKeyFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Invalid("tls.key_file: cannot be opened");
  if (auto mode = CheckSecretFileMode(::fileno(f), "tls.key_file:", path); !mode) {
    std::fclose(f);
    return Invalid(mode.error().message);
  }
  Secret buffer(kMaxKeyFileBytes + 1);
  const std::size_t n = std::fread(buffer.mutable_bytes().data(), 1, buffer.size(), f);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Invalid("tls.key_file: cannot be read");
  if (n > kMaxKeyFileBytes) return Invalid("tls.key_file: too large");
  buffer.truncate(n);
  return buffer;
}

Status LoadPrivateKey(SSL_CTX* ctx, const std::string& path) {
  auto pem = ReadKeyFile(path);
  if (!pem) return pem.error();
  // A read-only memory BIO over the Secret: no copy of the PEM text is made.
  BioPtr bio(BIO_new_mem_buf(pem->expose().data(), static_cast<int>(pem->size())));
  if (!bio) return Invalid("tls.key_file: out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Invalid("tls.key_file: not a PEM private key");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return Invalid("tls.key_file: key rejected");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Invalid("tls.key_file: does not match the certificate");
  }
  return {};
}

// The subject commonNames a context accepts, kept in the SSL_CTX (freed with it).
void FreeNames(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::vector<std::string>*>(ptr);
}
int NamesIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeNames);
  return index;
}

std::string SubjectCn(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, cn);
  std::string out;
  if (len >= 0) out.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// Every refusal ends the handshake with the same "handshake failure" alert
// (X509_V_ERR_APPLICATION_VERIFICATION maps to it), whether the chain did not
// verify or the subject is not allowed: a prober learns nothing more.
int VerifyClient(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* names = ssl == nullptr ? nullptr
                                     : static_cast<const std::vector<std::string>*>(
                                           SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), NamesIndex()));
  if (names == nullptr || names->empty()) return 1;
  const std::string cn = SubjectCn(X509_STORE_CTX_get_current_cert(store));
  if (std::find(names->begin(), names->end(), cn) != names->end()) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

Status ConfigureClientVerification(SSL_CTX* ctx, const TlsConfig& config) {
  if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1) {
    return Invalid("tls.client_ca_file: cannot be loaded");
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
  if (names == nullptr) return Invalid("tls.client_ca_file: no certificate in it");
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  if (!config.allowed_client_subject_cns.empty()) {
    auto* names = new std::vector<std::string>(config.allowed_client_subject_cns);
    if (SSL_CTX_set_ex_data(ctx, NamesIndex(), names) != 1) {
      delete names;
      return Invalid("tls: cannot keep the allowed client subjects");
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &VerifyClient);
  SSL_CTX_set_verify_depth(ctx, 4);
  return {};
}

std::string GeneralNameText(const GENERAL_NAME* name) {
  auto ia5 = [](const ASN1_IA5STRING* s) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
  };
  switch (name->type) {
    case GEN_DNS: return "DNS:" + ia5(name->d.dNSName);
    case GEN_EMAIL: return "email:" + ia5(name->d.rfc822Name);
    case GEN_URI: return "URI:" + ia5(name->d.uniformResourceIdentifier);
    case GEN_IPADD: {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int len = ASN1_STRING_length(ip);
      std::array<char, INET6_ADDRSTRLEN> text{};
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family == 0 ||
          inet_ntop(family, ASN1_STRING_get0_data(ip), text.data(), text.size()) == nullptr) {
        return {};
      }
      return std::string("IP:") + text.data();
    }
    default: return {};
  }
}

}  // namespace

Result<std::shared_ptr<ssl::context>> BuildServerTlsContext(const TlsConfig& config) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Invalid("tls: cannot set the minimum protocol version");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  // SSL_OP_NO_TICKET alone still sends TLS 1.3 (stateful) tickets.
  if (SSL_CTX_set_num_tickets(ctx, 0) != 1) return Invalid("tls: cannot turn session tickets off");
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return Invalid("tls: cipher configuration rejected");
  }
  // Required for session resumption together with client verification.
  static constexpr unsigned char kSessionContext[] = "kmsd";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, config.certificate_chain_file.c_str()) != 1) {
    return Invalid("tls.cert_file: cannot be loaded");
  }
  if (auto status = LoadPrivateKey(ctx, config.private_key_file); !status) return status.error();
  if (config.require_client_certificate) {
    if (auto status = ConfigureClientVerification(ctx, config); !status) return status.error();
  }
  return context;
}

void ReadPeerCertificate(SSL* ssl, PeerInfo& peer) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  peer.client_certificate = true;

  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, cn);
    if (len >= 0)
      peer.subject_cn.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
  }

  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      std::string text = GeneralNameText(sk_GENERAL_NAME_value(names, i));
      if (!text.empty()) peer.subject_alt_names.push_back(std::move(text));
    }
    GENERAL_NAMES_free(names);
  }

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &digest_len) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    peer.sha256_fingerprint.reserve(digest_len * 2);
    for (unsigned int i = 0; i < digest_len; ++i) {
      peer.sha256_fingerprint.push_back(kHex[digest[i] >> 4]);
      peer.sha256_fingerprint.push_back(kHex[digest[i] & 0x0F]);
    }
  }
}

}  // namespace kmsd::http
