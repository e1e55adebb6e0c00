// Single PKCS#11 operations on a leased session. Each returns a kmsd::Error
// on failure and records the failure's recovery class on the Lease (see
// Lease::Check), so the caller can decide whether to reopen and retry.
//
// Nothing here retries or caches; that is Pkcs11KeyService's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "hsm/pkcs11.h"
#include "hsm/session_pool.h"

namespace kmsd::hsm {

// All objects of `object_class` whose CKA_LABEL is `label` (at most
// `max_results`; pass 2 to detect a duplicate). The search is always ended.
Result<std::vector<CK_OBJECT_HANDLE>> FindObjectsByLabel(Lease& lease, CK_OBJECT_CLASS object_class,
                                                         std::string_view label,
                                                         std::size_t max_results);

// Every object of `object_class` with its label.
struct LabeledObject {
  CK_OBJECT_HANDLE handle;
  std::string label;
};
Result<std::vector<LabeledObject>> ListObjects(Lease& lease, CK_OBJECT_CLASS object_class);

// Number of objects visible to the (logged-in) session, of any class.
Result<std::size_t> CountObjects(Lease& lease);

// Fills `out` from the token's RNG.
Status GenerateRandom(Lease& lease, std::span<std::uint8_t> out);

// A new AES-256 token key: private, sensitive, not extractable,
// encrypt/decrypt only, labelled `label`.
Result<CK_OBJECT_HANDLE> GenerateAesTokenKey(Lease& lease, std::string_view label);

// Imports `key` (16/24/32 bytes) as an AES *session* object (vanishes with the
// session; used by vector tests). Sensitive, encrypt/decrypt.
Result<CK_OBJECT_HANDLE> ImportAesSessionKey(Lease& lease, std::span<const std::uint8_t> key);

// An EC P-256 token key pair labelled `label`; returns the private handle.
// Private half: private, sensitive, not extractable, sign only.
Result<CK_OBJECT_HANDLE> GenerateEcP256TokenKeyPair(Lease& lease, std::string_view label);

Status DestroyObject(Lease& lease, CK_OBJECT_HANDLE object);

// A non-sensitive attribute's bytes (e.g. CKA_EC_POINT, CKA_LABEL).
Result<std::vector<std::uint8_t>> GetAttributeBytes(Lease& lease, CK_OBJECT_HANDLE object,
                                                    CK_ATTRIBUTE_TYPE type);

// AES-GCM with a 128-bit tag inside the token. Returns ciphertext || tag.
Result<std::vector<std::uint8_t>> GcmEncrypt(Lease& lease, CK_OBJECT_HANDLE key,
                                             std::span<const std::uint8_t> iv,
                                             std::span<const std::uint8_t> aad,
                                             std::span<const std::uint8_t> plaintext);

// Inverse of GcmEncrypt. A failed tag check is kIntegrity (and the session is
// left usable); the plaintext is returned in a Secret.
Result<Secret> GcmDecrypt(Lease& lease, CK_OBJECT_HANDLE key, std::span<const std::uint8_t> iv,
                          std::span<const std::uint8_t> aad,
                          std::span<const std::uint8_t> ciphertext_and_tag);

// CKM_ECDSA over a precomputed digest; returns r || s.
Result<std::vector<std::uint8_t>> SignEcdsa(Lease& lease, CK_OBJECT_HANDLE private_key,
                                            std::span<const std::uint8_t> digest);

// Names of the required capabilities the token in `slot` lacks (empty if
// none): AES-GCM encrypt+decrypt with 256-bit keys, AES key generation, the
// RNG, EC P-256 key pair generation and ECDSA signing.
Result<std::vector<std::string>> MissingCapabilities(CK_FUNCTION_LIST* fn, CK_SLOT_ID slot);

}  // namespace kmsd::hsm
