#include "broker/audit/checkpoint_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>

namespace kmsd::audit {
namespace {

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<&ECDSA_SIG_free>>;

bool IsP256(EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return false;
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) !=
      1) {
    return false;
  }
  return std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "P-256") == 0;
}

}  // namespace

Result<PkeyPtr> LoadCheckpointPublicKey(std::span<const std::uint8_t> der_or_pem) {
  const unsigned char* p = der_or_pem.data();
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der_or_pem.size())));
  if (!key) {
    BioPtr bio(BIO_new_mem_buf(der_or_pem.data(), static_cast<int>(der_or_pem.size())));
    if (bio) key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  }
  if (!key || !IsP256(key.get())) {
    return MakeError(ErrorCode::kInvalidArgument, "checkpoint public key is not an EC P-256 SPKI");
  }
  return key;
}

bool VerifyCheckpointSignature(EVP_PKEY* key, std::span<const std::uint8_t> message,
                               std::span<const std::uint8_t> signature) {
  if (key == nullptr || signature.size() != 64) return false;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = ctx &&
                  EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                                   message.data(), message.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

}  // namespace kmsd::audit
