// LabeledKeyCipher: AES-256-GCM with a named token key, for callers that
// bring their own ciphertext format (the AWS XKS front, docs/xks.md).
//
// Unlike KeyService, the key is not a kmsd KEK: it is any AES-256 secret key
// in the token found by its CKA_LABEL exactly as configured (an operator
// creates it, e.g. with pkcs11-tool, or EnsureLabeledAesKey does in dev mode).
// The key never leaves the token; the IV comes from the token's RNG.
//
// Contract shared by every implementation:
// - Thread-safe; never throws on the request path.
// - Errors: kInvalidArgument (label not 1..64 bytes, IV not 12 or 16 bytes,
//   tag not 16 bytes, AAD over kMaxAadSize, plaintext over
//   kMaxLabeledPlaintext), kNotFound (no secret key with that label),
//   kIntegrity (decryption failed authentication: altered ciphertext, IV,
//   tag or AAD, or another key), kHsmUnavailable (retryable), kInternal
//   (two keys share the label, token misbehaves). Messages name labels and
//   codes, never bytes.
// - Plaintext results are Secrets owned by the caller; intermediate copies
//   are wiped.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace kmsd::hsm {

inline constexpr std::size_t kMaxLabeledPlaintext = 64 * 1024;
inline constexpr std::size_t kMaxKeyLabelLength = 64;

// One AES-GCM encryption: 12-byte IV, ciphertext of the plaintext's length,
// 16-byte tag, kept apart (XKS returns them as separate fields).
struct GcmSealed {
  std::vector<std::uint8_t> iv;
  std::vector<std::uint8_t> ciphertext;
  std::array<std::uint8_t, 16> tag{};
};

// What the token says about a labelled key (non-sensitive attributes only).
struct LabeledKeyInfo {
  bool aes_256 = false;  // CKK_AES with CKA_VALUE_LEN 32
  bool can_encrypt = false;
  bool can_decrypt = false;
};

class LabeledKeyCipher {
 public:
  virtual ~LabeledKeyCipher() = default;

  virtual Result<GcmSealed> EncryptWithLabeledKey(std::string_view label,
                                                  std::span<const std::uint8_t> aad,
                                                  std::span<const std::uint8_t> plaintext) = 0;

  virtual Result<Secret> DecryptWithLabeledKey(std::string_view label,
                                               std::span<const std::uint8_t> iv,
                                               std::span<const std::uint8_t> aad,
                                               std::span<const std::uint8_t> ciphertext,
                                               std::span<const std::uint8_t> tag) = 0;

  // The key's type and usage flags. Errors: kNotFound, kHsmUnavailable, kInternal.
  virtual Result<LabeledKeyInfo> DescribeLabeledKey(std::string_view label) = 0;

  // Creates an AES-256 token key with this label (private, sensitive, not
  // extractable, encrypt/decrypt only) unless one exists. For dev mode and
  // tests; production keys are made by the operator.
  virtual Status EnsureLabeledAesKey(std::string_view label) = 0;
};

}  // namespace kmsd::hsm
