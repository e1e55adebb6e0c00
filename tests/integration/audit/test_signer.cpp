#include "tests/integration/audit/test_signer.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace kmsd::audit::testing {

SoftwareP256Signer::SoftwareP256Signer()
    : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")) {
  if (!key_) std::abort();
}

Result<std::vector<std::uint8_t>> SoftwareP256Signer::Sign(std::span<const std::uint8_t> message) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len, message.data(), message.size()) != 1) {
    return MakeError(ErrorCode::kInternal, "test signer failed");
  }
  std::vector<std::uint8_t> der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len, message.data(), message.size()) != 1) {
    return MakeError(ErrorCode::kInternal, "test signer failed");
  }
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (sig == nullptr) return MakeError(ErrorCode::kInternal, "test signer failed");
  std::vector<std::uint8_t> raw(64);
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32) == 32 &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  if (!ok) return MakeError(ErrorCode::kInternal, "test signer failed");
  return raw;
}

std::vector<std::uint8_t> SoftwareP256Signer::PublicKeyDer() const {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key_.get(), &der);
  std::vector<std::uint8_t> out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  return out;
}

std::string SoftwareP256Signer::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace kmsd::audit::testing
