#include "broker/jose/algorithm.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "common/openssl_ptr.h"

namespace kmsd::jose {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<&BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<&ECDSA_SIG_free>>;

constexpr std::size_t kP256ScalarBytes = 32;

// The order n of the P-256 group (SEC 2 §2.4.2).
constexpr std::array<std::uint8_t, kP256ScalarBytes> kP256Order = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

// 0 < v < n for a 32-byte big-endian scalar.
bool InScalarRange(std::span<const std::uint8_t> v) {
  bool all_zero = true;
  for (std::uint8_t b : v) all_zero = all_zero && b == 0;
  if (all_zero) return false;
  return std::memcmp(v.data(), kP256Order.data(), kP256ScalarBytes) < 0;
}

bool IsP256(const EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return false;
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &len) != 1) {
    return false;
  }
  const std::string_view name(group.data(), len);
  return name == "prime256v1" || name == "P-256" || name == "secp256r1";
}

}  // namespace

std::string_view AlgorithmName(Algorithm alg) noexcept {
  switch (alg) {
    case Algorithm::kES256: return "ES256";
    case Algorithm::kEdDSA: return "EdDSA";
    case Algorithm::kRS256: return "RS256";
    case Algorithm::kPS256: return "PS256";
  }
  return "";
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) noexcept {
  for (Algorithm a : {Algorithm::kES256, Algorithm::kEdDSA, Algorithm::kRS256, Algorithm::kPS256}) {
    if (name == AlgorithmName(a)) return a;
  }
  return std::nullopt;
}

bool KeyFitsAlgorithm(const EVP_PKEY* key, Algorithm alg) noexcept {
  if (key == nullptr) return false;
  switch (alg) {
    case Algorithm::kES256: return IsP256(key);
    case Algorithm::kEdDSA: return EVP_PKEY_is_a(key, "ED25519") == 1;
    case Algorithm::kRS256:
    case Algorithm::kPS256:
      return EVP_PKEY_is_a(key, "RSA") == 1 && EVP_PKEY_get_bits(key) >= kMinRsaBits;
  }
  return false;
}

std::optional<std::vector<std::uint8_t>> EcdsaRawToDer(std::span<const std::uint8_t> raw) {
  if (raw.size() != 2 * kP256ScalarBytes) return std::nullopt;
  const auto r_bytes = raw.first(kP256ScalarBytes);
  const auto s_bytes = raw.last(kP256ScalarBytes);
  if (!InScalarRange(r_bytes) || !InScalarRange(s_bytes)) return std::nullopt;
  BignumPtr r(BN_bin2bn(r_bytes.data(), kP256ScalarBytes, nullptr));
  BignumPtr s(BN_bin2bn(s_bytes.data(), kP256ScalarBytes, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return std::nullopt;
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // owned by sig now
  s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

std::optional<std::vector<std::uint8_t>> EcdsaDerToRaw(std::span<const std::uint8_t> der) {
  const unsigned char* in = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (!sig || in != der.data() + der.size()) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::vector<std::uint8_t> raw(2 * kP256ScalarBytes);
  if (BN_bn2binpad(r, raw.data(), kP256ScalarBytes) != static_cast<int>(kP256ScalarBytes) ||
      BN_bn2binpad(s, raw.data() + kP256ScalarBytes, kP256ScalarBytes) !=
          static_cast<int>(kP256ScalarBytes)) {
    return std::nullopt;
  }
  return raw;
}

bool VerifySignature(const EVP_PKEY* key, Algorithm alg, std::span<const std::uint8_t> data,
                     std::span<const std::uint8_t> signature) noexcept {
  if (!KeyFitsAlgorithm(key, alg)) return false;
  std::vector<std::uint8_t> der;
  std::span<const std::uint8_t> sig = signature;
  const EVP_MD* md = EVP_sha256();
  switch (alg) {
    case Algorithm::kES256: {
      auto converted = EcdsaRawToDer(signature);
      if (!converted) return false;
      der = std::move(*converted);
      sig = der;
      break;
    }
    case Algorithm::kEdDSA:
      if (signature.size() != 64) return false;
      md = nullptr;  // Ed25519 hashes internally (one-shot only)
      break;
    case Algorithm::kRS256:
    case Algorithm::kPS256:
      if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
      break;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  // EVP_DigestVerifyInit takes a non-const key but only reads it (refcount).
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, const_cast<EVP_PKEY*>(key)) != 1) {
    return false;
  }
  if (alg == Algorithm::kPS256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  } else if (alg == Algorithm::kRS256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  const bool ok =
      EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
  // A refused signature leaves entries on this thread's error queue; they
  // must not surface in some later, unrelated OpenSSL error report.
  ERR_clear_error();
  return ok;
}

}  // namespace kmsd::jose
