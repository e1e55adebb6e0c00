// Who signs audit checkpoints, and how a checkpoint signature is checked.
//
// In production the token holds the key (hsm's KeyService implements
// CheckpointSigner with an EC P-256 key, CKM_ECDSA over SHA-256(message)).
// Verification needs only the public key, so an auditor can check a log
// without the token.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/openssl_ptr.h"
#include "common/result.h"

namespace kmsd::audit {

class CheckpointSigner {
 public:
  virtual ~CheckpointSigner() = default;
  // ECDSA P-256 over SHA-256(message); returns raw r||s (64 bytes, each half
  // big-endian, zero-padded). Fails with kHsmUnavailable or kInternal; the
  // log then retries at the next checkpoint. Must be thread-safe.
  virtual Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t> message) = 0;
  // A stable id of the signing key, written into each checkpoint line.
  virtual std::string KeyId() const = 0;
};

// Loads an EC P-256 public key from SubjectPublicKeyInfo DER or PEM.
// kInvalidArgument when the bytes are neither, or the key is not P-256.
Result<PkeyPtr> LoadCheckpointPublicKey(std::span<const std::uint8_t> der_or_pem);

// True iff signature (raw r||s, 64 bytes) is a valid ECDSA P-256/SHA-256
// signature of message under key.
bool VerifyCheckpointSignature(EVP_PKEY* key, std::span<const std::uint8_t> message,
                               std::span<const std::uint8_t> signature);

}  // namespace kmsd::audit
