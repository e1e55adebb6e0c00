// KeyService: the KMS role. Generates data keys, wraps them under per-tenant
// key-encryption keys (KEKs) that never leave the token, and unwraps them.
//
// This is the interface the broker talks to; the PKCS#11 implementation is in
// hsm/pkcs11_key_service.h. A KMS role in another process (reached over mTLS)
// would implement the same interface.
//
// Contract shared by every implementation:
// - Thread-safe: any number of threads may call any method at once.
// - Never throws on the request path; errors come back as kmsd::Error values
//   whose messages name ids and codes only (never key bytes, PINs or AAD).
// - Plaintext data keys are returned in a kmsd::Secret owned by the caller;
//   every intermediate copy inside the implementation is wiped.
// - Wrapped keys are opaque, self-describing blobs (docs/wrapped-key-format.md).
//   A blob that does not parse is kInvalidArgument before any token call; a
//   blob that parses but fails authentication (altered bytes, wrong AAD,
//   wrong KEK) is kIntegrity.
// - kHsmUnavailable is retryable: the token or module is unreachable and the
//   implementation is recovering on its own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace kmsd::hsm {

// Names one version of a tenant's KEK. Tenant names match [A-Za-z0-9._-]{1,64}
// and do not start with '_' (reserved for internal keys such as the health
// probe); versions start at 1.
struct KekId {
  std::string tenant;
  std::uint32_t version = 0;

  friend bool operator==(const KekId&, const KekId&) = default;
};

// A freshly generated data key: the plaintext (caller wipes it by destroying
// the Secret as soon as it is handed out) and the same key wrapped under a KEK.
struct GeneratedDataKey {
  Secret plaintext;                   // 32 bytes
  std::vector<std::uint8_t> wrapped;  // wrapped-key blob, safe to store
};

// Upper bound on caller AAD (bytes). Larger AAD is kInvalidArgument.
inline constexpr std::size_t kMaxAadSize = 16 * 1024;

class KeyService {
 public:
  virtual ~KeyService() = default;

  // A 256-bit key from the token's RNG, wrapped with AES-256-GCM inside the
  // token under `kek` with a 96-bit IV from the token's RNG and a 128-bit tag;
  // `aad` is bound to the wrap and must be presented again to unwrap.
  // Errors: kInvalidArgument (bad tenant/version, AAD too large), kNotFound
  // (no such KEK), kHsmUnavailable (token unreachable; retryable), kInternal.
  virtual Result<GeneratedDataKey> GenerateDataKey(const KekId& kek,
                                                   std::span<const std::uint8_t> aad) = 0;

  // Recovers the plaintext data key of `wrapped`.
  // Errors: kInvalidArgument (malformed blob, or its KEK version differs from
  // kek.version: checked before any token call), kNotFound (KEK absent or
  // destroyed), kIntegrity (authentication failed: blob altered, wrong AAD,
  // wrong tenant's KEK), kHsmUnavailable, kInternal.
  virtual Result<Secret> Unwrap(const KekId& kek, std::span<const std::uint8_t> wrapped,
                                std::span<const std::uint8_t> aad) = 0;

  // Unwraps under `from`/`old_aad` and wraps the same key under `to`/`new_aad`.
  // The plaintext exists only inside a Secret that is wiped before returning.
  // Errors: those of Unwrap and GenerateDataKey.
  virtual Result<std::vector<std::uint8_t>> Rewrap(const KekId& from,
                                                   std::span<const std::uint8_t> wrapped,
                                                   std::span<const std::uint8_t> old_aad,
                                                   const KekId& to,
                                                   std::span<const std::uint8_t> new_aad) = 0;

  // Creates KEK `kek` (AES-256, in the token, never extractable).
  // Errors: kInvalidArgument, kConflict (that version already exists),
  // kHsmUnavailable, kInternal.
  virtual Status CreateKek(const KekId& kek) = 0;

  // Destroys KEK `kek`: every key wrapped under it becomes unrecoverable.
  // Errors: kInvalidArgument, kNotFound, kHsmUnavailable, kInternal.
  virtual Status DestroyKek(const KekId& kek) = 0;

  // The tenant's existing KEK versions, ascending. Empty if none.
  // Errors: kInvalidArgument (bad tenant), kHsmUnavailable, kInternal.
  virtual Result<std::vector<std::uint32_t>> ListKekVersions(std::string_view tenant) = 0;

  // A real wrap/unwrap round trip with an internal probe KEK (created on
  // demand). OK means the token serves requests now.
  // Errors: kHsmUnavailable, kIntegrity or kInternal if the token misbehaves.
  virtual Status CheckHealth() = 0;

  // Signs an audit checkpoint with the service's EC P-256 audit-signer key
  // (created on demand in the token, private half never extractable):
  // ECDSA over SHA-256(message), returned as raw r||s (64 bytes).
  // Errors: kHsmUnavailable, kInternal.
  virtual Result<std::vector<std::uint8_t>> SignAuditCheckpoint(
      std::span<const std::uint8_t> message) = 0;

  // The audit signer's public key as DER SubjectPublicKeyInfo, so anyone can
  // verify checkpoints with OpenSSL without the token. Creates the key pair
  // on demand. Errors: kHsmUnavailable, kInternal.
  virtual Result<std::vector<std::uint8_t>> AuditSignerPublicKeyDer() = 0;
};

}  // namespace kmsd::hsm
