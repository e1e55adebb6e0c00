// JWS signature algorithms kmsd accepts, and the one signature primitive.
//
// Only asymmetric algorithms exist here: `none` and every HMAC algorithm are
// not representable, so no key can ever be bound to them. Each verification
// key is bound to exactly one Algorithm (see key_set.h).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace kmsd::jose {

enum class Algorithm : std::uint8_t {
  kES256,  // ECDSA P-256 + SHA-256, signature raw r||s (64 bytes), RFC 7518 §3.4
  kEdDSA,  // Ed25519, RFC 8037
  kRS256,  // RSASSA-PKCS1-v1_5 + SHA-256, RSA >= 2048 bits (identity providers)
  kPS256,  // RSASSA-PSS + SHA-256, MGF1-SHA-256, salt 32 bytes (identity providers)
};

// A set of algorithms as a bit mask.
class AlgorithmSet {
 public:
  constexpr AlgorithmSet() = default;
  constexpr AlgorithmSet(std::initializer_list<Algorithm> algs) {
    for (Algorithm a : algs) bits_ |= Bit(a);
  }
  constexpr bool Contains(Algorithm a) const { return (bits_ & Bit(a)) != 0; }

 private:
  static constexpr std::uint8_t Bit(Algorithm a) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(a));
  }
  std::uint8_t bits_ = 0;
};

inline constexpr AlgorithmSet kAllAlgorithms{Algorithm::kES256, Algorithm::kEdDSA,
                                             Algorithm::kRS256, Algorithm::kPS256};
// Data-holder (authorization token) signers: compact, modern curves only.
inline constexpr AlgorithmSet kSignerAlgorithms{Algorithm::kES256, Algorithm::kEdDSA};

inline constexpr int kMinRsaBits = 2048;

// The JOSE name ("ES256", "EdDSA", "RS256", "PS256").
std::string_view AlgorithmName(Algorithm alg) noexcept;
// Exact, case-sensitive match of a JOSE name; nullopt for anything else.
std::optional<Algorithm> ParseAlgorithm(std::string_view name) noexcept;

// True when `key` has the type (and curve, and size) that `alg` needs.
bool KeyFitsAlgorithm(const EVP_PKEY* key, Algorithm alg) noexcept;

// Verifies a JWS signature over `data` with `key` under `alg`, with
// EVP_DigestVerify. ES256 signatures must be exactly 64 bytes (r||s, each
// 32 bytes big-endian, 0 < r,s < n); a DER signature is refused. Ed25519
// signatures must be 64 bytes, RSA signatures exactly the modulus length.
// High-S ECDSA signatures are valid (RFC 7515 A.3 has one). Returns false on
// any failure, including a key that does not fit `alg`. Thread-safe: `key` is
// only read.
bool VerifySignature(const EVP_PKEY* key, Algorithm alg, std::span<const std::uint8_t> data,
                     std::span<const std::uint8_t> signature) noexcept;

// Converts a raw 64-byte r||s ES256 signature to DER; nullopt when the length
// is wrong or r or s is zero or not below the P-256 group order.
std::optional<std::vector<std::uint8_t>> EcdsaRawToDer(std::span<const std::uint8_t> raw);

// Converts a DER ECDSA signature (as OpenSSL produces) to raw 64-byte r||s.
std::optional<std::vector<std::uint8_t>> EcdsaDerToRaw(std::span<const std::uint8_t> der);

}  // namespace kmsd::jose
