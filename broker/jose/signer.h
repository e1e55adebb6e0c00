// JwsSigner and dev keys: minting tokens for dev mode, kmsctl and tests.
//
// Production never signs tokens (identity providers and storage servers do);
// this exists so `kmsd --dev` and `kmsctl dev token/authz` can run the whole
// flow, and so tests can build any token, well-formed or hostile.
#pragma once

#include <boost/json/object.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "broker/jose/algorithm.h"
#include "common/openssl_ptr.h"
#include "common/result.h"
#include "common/secret.h"

namespace kmsd::jose {

class JwsSigner {
 public:
  // From a PKCS#8 / traditional PEM private key. Only ES256 (P-256) and EdDSA
  // (Ed25519). kInvalidArgument when the PEM does not parse or the key does
  // not fit alg. The PEM text is not kept.
  static Result<JwsSigner> FromPrivateKeyPem(std::string kid, const Secret& pem, Algorithm alg);
  static Result<JwsSigner> FromPrivateKeyFile(std::string kid, const std::filesystem::path& path,
                                              Algorithm alg);

  // header {"alg", "kid", "typ": "JWT"} + the claims as compact JWS.
  Result<std::string> Sign(const boost::json::object& claims) const;
  // Signs exactly the given header and payload texts (base64url-encoding
  // both): for tests that need unusual headers. ES256 output is raw r||s.
  Result<std::string> SignCompact(std::string_view header_json, std::string_view payload) const;
  // The raw signature over arbitrary bytes (raw r||s for ES256).
  Result<std::vector<std::uint8_t>> SignBytes(std::string_view data) const;

  const std::string& kid() const { return kid_; }
  Algorithm alg() const { return alg_; }
  // {"kty", "crv", "x"[, "y"], "kid", "alg", "use": "sig"}: public members only.
  Result<boost::json::object> PublicJwk() const;

 private:
  JwsSigner(std::string kid, PkeyPtr key, Algorithm alg)
      : kid_(std::move(kid)), key_(std::move(key)), alg_(alg) {}
  std::string kid_;
  std::shared_ptr<EVP_PKEY> key_;
  Algorithm alg_;
};

// A fresh private key for alg (ES256 or EdDSA) as PKCS#8 PEM.
Result<Secret> GeneratePrivateKeyPem(Algorithm alg);

// Writes `pem` to a new file with mode 0600 (O_EXCL|O_NOFOLLOW: an existing
// file is kConflict, never overwritten), fsynced.
Status WritePrivateKeyFile(const std::filesystem::path& path, const Secret& pem);
// Reads a private key file into a Secret; refuses (kPermissionDenied) a file
// readable or writable by group or others.
Result<Secret> ReadPrivateKeyFile(const std::filesystem::path& path);

// Creates, once, the dev key pair: a private key file (0600) and the public
// JWKS {"keys": [jwk]} (0644) next to it, both via temp file + rename. When the
// private key already exists it is kept and the JWKS is rewritten from it.
Status EnsureDevKeyPair(const std::filesystem::path& private_key_path,
                        const std::filesystem::path& jwks_path, const std::string& kid,
                        Algorithm alg);

}  // namespace kmsd::jose
