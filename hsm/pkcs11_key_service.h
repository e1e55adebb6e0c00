// Pkcs11KeyService: the KeyService over a PKCS#11 token (SoftHSM2 in tests).
//
// Ownership: the service owns its session pool and shares the process-wide
// Module (hsm/module.h) with every other service on the same library path.
// The library is C_Initialize'd lazily by the first service that needs it in
// the current process (so a daemon may fork before opening the service) and
// C_Finalize'd when the last service on it is destroyed.
//
// Behaviour on failures (see KeyService for the per-method error codes):
// - Session-level token errors (handle invalid, session closed, user not
//   logged in): the session is replaced, logged in again, and the operation
//   retried once; callers see no error unless the retry fails too.
// - Device-level errors (device removed/error, token absent, module not
//   initialised, general error): the module is re-initialised (first attempt
//   at once, then with exponential backoff up to 5 s); meanwhile calls fail
//   with kHsmUnavailable. Object handles are found again by label afterwards.
// - A refused PIN (incorrect, locked, expired, invalid) is never retried:
//   OpenPkcs11KeyService fails with kUnauthenticated; if it happens later (on
//   a re-login) every call fails with kHsmUnavailable until restart.
//   PKCS#11 login state is per process and token: while another service in
//   this process keeps the token logged in, no C_Login is made, so a wrong
//   PIN in a second service's config shows only once the token logs out.
// - A session left with an operation in an unknown state (a failed
//   C_Encrypt/C_Decrypt/C_Sign) is closed and replaced, never reused.
//
// Token objects and their labels (prefix defaults to "kmsd:"):
//   <prefix><tenant>:v<N>   AES-256 KEK: token, private, sensitive, not
//                           extractable, encrypt/decrypt only
//   <prefix>_health:v1      the health-probe KEK (same attributes)
//   <prefix>audit-signer    EC P-256 key pair (private: sensitive, not
//                           extractable, sign only)
//   any label               AES-256 keys of the XKS front (LabeledKeyCipher):
//                           the label as configured, no prefix added
// Two objects with one label make that key unusable (kInternal) rather than
// picking one silently. CreateKek and the on-demand keys are serialised within
// the process; two processes creating the same label at once are not guarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "hsm/key_service.h"
#include "hsm/labeled_key_cipher.h"

namespace kmsd::hsm {

struct TokenConfig {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;  // the token is chosen by label, never by slot number
  std::string pin_file;     // user PIN; one trailing newline is stripped
  std::string kek_label_prefix = "kmsd:";
  std::size_t pool_size = 4;  // sessions; also the useful number of worker threads
};

// Counters for tests, metrics and the benchmark. Monotonic since open.
struct Pkcs11Stats {
  std::uint64_t login_attempts = 0;      // C_Login calls made by this service
  std::uint64_t session_reopens = 0;     // sessions replaced after session-level errors
  std::uint64_t reinitializations = 0;   // module re-initialisations this service caused
  std::uint64_t unavailable_errors = 0;  // kHsmUnavailable returned to callers
};

class SessionPool;
class Module;

class Pkcs11KeyService final : public KeyService, public LabeledKeyCipher {
 public:
  ~Pkcs11KeyService() override;
  Pkcs11KeyService(const Pkcs11KeyService&) = delete;
  Pkcs11KeyService& operator=(const Pkcs11KeyService&) = delete;

  Result<GeneratedDataKey> GenerateDataKey(const KekId& kek,
                                           std::span<const std::uint8_t> aad) override;
  Result<Secret> Unwrap(const KekId& kek, std::span<const std::uint8_t> wrapped,
                        std::span<const std::uint8_t> aad) override;
  Result<std::vector<std::uint8_t>> Rewrap(const KekId& from, std::span<const std::uint8_t> wrapped,
                                           std::span<const std::uint8_t> old_aad, const KekId& to,
                                           std::span<const std::uint8_t> new_aad) override;
  Status CreateKek(const KekId& kek) override;
  Status DestroyKek(const KekId& kek) override;
  Result<std::vector<std::uint32_t>> ListKekVersions(std::string_view tenant) override;
  Status CheckHealth() override;
  Result<std::vector<std::uint8_t>> SignAuditCheckpoint(
      std::span<const std::uint8_t> message) override;
  Result<std::vector<std::uint8_t>> AuditSignerPublicKeyDer() override;

  // LabeledKeyCipher (the XKS front's keys, found by their exact label).
  Result<GcmSealed> EncryptWithLabeledKey(std::string_view label, std::span<const std::uint8_t> aad,
                                          std::span<const std::uint8_t> plaintext) override;
  Result<Secret> DecryptWithLabeledKey(std::string_view label, std::span<const std::uint8_t> iv,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertext,
                                       std::span<const std::uint8_t> tag) override;
  Result<LabeledKeyInfo> DescribeLabeledKey(std::string_view label) override;
  Status EnsureLabeledAesKey(std::string_view label) override;

  Pkcs11Stats stats() const;

  // The session pool, for tests and the benchmark that drive the token
  // directly (e.g. to import a test-vector key as a session object).
  SessionPool& pool();

 private:
  struct Impl;
  explicit Pkcs11KeyService(std::unique_ptr<Impl> impl);
  friend Result<std::unique_ptr<Pkcs11KeyService>> OpenPkcs11KeyService(const TokenConfig&);

  std::unique_ptr<Impl> impl_;
};

// Loads the module (if not yet loaded in this process), finds the token by
// label, reads the PIN file, opens the pool, logs in once and probes the
// token's mechanisms.
// Errors: kInvalidArgument (bad config, unreadable/empty PIN file, token
// lacks a required mechanism: the message names every missing one),
// kNotFound (no token with that label), kUnauthenticated (PIN refused;
// exactly one C_Login attempt was made), kHsmUnavailable (module cannot be
// loaded or initialised), kInternal.
Result<std::unique_ptr<Pkcs11KeyService>> OpenPkcs11KeyService(const TokenConfig& config);

}  // namespace kmsd::hsm
