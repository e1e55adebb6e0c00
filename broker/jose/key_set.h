// KeySet: a fixed set of verification keys, each bound to one algorithm.
//
// A token's `kid` header only ever selects from this set by exact string
// match: it is never a path, URL or query. Keys are public keys only; a JWKS
// entry that carries private members (`d`, RSA primes, ...) is refused, since
// a verifier's key file has no business holding them.
//
// A KeySet is immutable once built and shared as std::shared_ptr<const
// KeySet>; concurrent Find() calls and signature checks are safe. Reload
// (SIGHUP) builds a new KeySet and swaps the pointer.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "broker/jose/algorithm.h"
#include "common/openssl_ptr.h"
#include "common/result.h"

namespace kmsd::jose {

inline constexpr std::size_t kMaxKidLength = 128;
inline constexpr std::size_t kMaxJwksBytes = 1 << 20;
inline constexpr std::size_t kMaxKeysPerSet = 256;

struct VerificationKey {
  std::shared_ptr<EVP_PKEY> key;  // public key; shared so copies of a set are cheap
  Algorithm alg;
};

class KeySet {
 public:
  KeySet() = default;

  // Adds `key` under `kid`, bound to `alg`. Fails with kInvalidArgument when
  // kid is empty or longer than kMaxKidLength, already present, the key does
  // not fit alg (type, curve, RSA < 2048 bits), or alg is not in `allowed`.
  Status Add(std::string kid, PkeyPtr key, Algorithm alg, AlgorithmSet allowed = kAllAlgorithms);

  // The key for `kid`, or nullptr. The pointer lives as long as this set.
  const VerificationKey* Find(std::string_view kid) const;

  std::size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  // The only key, when the set holds exactly one; nullptr otherwise.
  const VerificationKey* Sole() const;
  const std::string* SoleKid() const;
  // True when every key's algorithm is in `algs`.
  bool OnlyUses(AlgorithmSet algs) const;

  // Parses a JWKS document {"keys": [...]} (strict JSON, <= kMaxJwksBytes):
  // kty EC (crv P-256, x, y), OKP (crv Ed25519, x) or RSA (n, e); `kid` and
  // `alg` required in each; `use`, when present, must be "sig"; private
  // members refused; unknown members ignored; at least one key. Fails with
  // kInvalidArgument naming the index of the bad entry, never its contents.
  static Result<KeySet> FromJwks(std::string_view jwks_json, AlgorithmSet allowed = kAllAlgorithms);

  // A set of one key from a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) text.
  static Result<KeySet> FromPublicKeyPem(std::string kid, std::string_view pem, Algorithm alg,
                                         AlgorithmSet allowed = kAllAlgorithms);

 private:
  std::map<std::string, VerificationKey, std::less<>> keys_;
};

// Parses one public PEM key (SubjectPublicKeyInfo). kInvalidArgument on failure.
Result<PkeyPtr> ParsePublicKeyPem(std::string_view pem);

}  // namespace kmsd::jose
