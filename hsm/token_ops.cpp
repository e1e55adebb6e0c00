#include "hsm/token_ops.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "common/scope_guard.h"

namespace kmsd::hsm {
namespace {

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;

CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, void* value, std::size_t size) {
  return CK_ATTRIBUTE{type, value, static_cast<CK_ULONG>(size)};
}
template <class T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* value) {
  return Attr(type, value, sizeof(T));
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::string_view text) {
  return Attr(type, const_cast<char*>(text.data()), text.size());
}

CK_GCM_PARAMS GcmParams(std::span<const std::uint8_t> iv, std::span<const std::uint8_t> aad) {
  // p11-kit and SoftHSM 2.6 both use the v2.40-errata layout with ulIvBits.
  CK_GCM_PARAMS params{};
  params.pIv = const_cast<CK_BYTE*>(iv.data());
  params.ulIvLen = iv.size();
  params.ulIvBits = iv.size() * 8;
  params.pAAD = const_cast<CK_BYTE*>(aad.data());
  params.ulAADLen = aad.size();
  params.ulTagBits = 128;
  return params;
}

// Runs a C_FindObjects search; the guard always ends it, so the session is
// never left with an active search operation.
Result<std::vector<CK_OBJECT_HANDLE>> Find(Lease& lease, std::span<CK_ATTRIBUTE> tmpl,
                                           std::size_t max_results) {
  CK_FUNCTION_LIST* fn = lease.fn();
  if (auto st = lease.Check(fn->C_FindObjectsInit(lease.session(), tmpl.data(), tmpl.size()),
                            "C_FindObjectsInit");
      !st) {
    return st.error();
  }
  ScopeGuard end([&] { fn->C_FindObjectsFinal(lease.session()); });
  std::vector<CK_OBJECT_HANDLE> found;
  CK_OBJECT_HANDLE batch[64];
  while (found.size() < max_results) {
    CK_ULONG n = 0;
    if (auto st = lease.Check(fn->C_FindObjects(lease.session(), batch, 64, &n), "C_FindObjects");
        !st) {
      return st.error();
    }
    if (n == 0) break;
    found.insert(found.end(), batch, batch + n);
  }
  if (found.size() > max_results) found.resize(max_results);
  return found;
}

}  // namespace

Result<std::vector<CK_OBJECT_HANDLE>> FindObjectsByLabel(Lease& lease, CK_OBJECT_CLASS object_class,
                                                         std::string_view label,
                                                         std::size_t max_results) {
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &object_class), Attr(CKA_LABEL, label)};
  return Find(lease, tmpl, max_results);
}

Result<std::vector<LabeledObject>> ListObjects(Lease& lease, CK_OBJECT_CLASS object_class) {
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &object_class)};
  auto handles = Find(lease, tmpl, SIZE_MAX);
  if (!handles) return handles.error();
  std::vector<LabeledObject> out;
  out.reserve(handles->size());
  for (CK_OBJECT_HANDLE h : *handles) {
    auto label = GetAttributeBytes(lease, h, CKA_LABEL);
    if (!label) return label.error();
    out.push_back({h, std::string(label->begin(), label->end())});
  }
  return out;
}

Result<std::size_t> CountObjects(Lease& lease) {
  auto handles = Find(lease, {}, SIZE_MAX);
  if (!handles) return handles.error();
  return handles->size();
}

Status GenerateRandom(Lease& lease, std::span<std::uint8_t> out) {
  return lease.Check(lease.fn()->C_GenerateRandom(lease.session(), out.data(), out.size()),
                     "C_GenerateRandom");
}

Result<CK_OBJECT_HANDLE> GenerateAesTokenKey(Lease& lease, std::string_view label) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_ATTRIBUTE tmpl[] = {
      Attr(CKA_CLASS, &cls),       Attr(CKA_KEY_TYPE, &type),      Attr(CKA_VALUE_LEN, &len),
      Attr(CKA_LABEL, label),      Attr(CKA_TOKEN, &kTrue),        Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue), Attr(CKA_EXTRACTABLE, &kFalse), Attr(CKA_ENCRYPT, &kTrue),
      Attr(CKA_DECRYPT, &kTrue),   Attr(CKA_WRAP, &kFalse),        Attr(CKA_UNWRAP, &kFalse),
      Attr(CKA_SIGN, &kFalse),     Attr(CKA_VERIFY, &kFalse),      Attr(CKA_DERIVE, &kFalse),
  };
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  if (auto st = lease.Check(
          lease.fn()->C_GenerateKey(lease.session(), &mech, tmpl, std::size(tmpl), &key),
          "C_GenerateKey");
      !st) {
    return st.error();
  }
  return key;
}

Result<CK_OBJECT_HANDLE> ImportAesSessionKey(Lease& lease, std::span<const std::uint8_t> key) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ATTRIBUTE tmpl[] = {
      Attr(CKA_CLASS, &cls),
      Attr(CKA_KEY_TYPE, &type),
      Attr(CKA_TOKEN, &kFalse),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_ENCRYPT, &kTrue),
      Attr(CKA_DECRYPT, &kTrue),
      Attr(CKA_VALUE, const_cast<std::uint8_t*>(key.data()), key.size()),
  };
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  if (auto st =
          lease.Check(lease.fn()->C_CreateObject(lease.session(), tmpl, std::size(tmpl), &handle),
                      "C_CreateObject");
      !st) {
    return st.error();
  }
  return handle;
}

Result<CK_OBJECT_HANDLE> GenerateEcP256TokenKeyPair(Lease& lease, std::string_view label) {
  // DER of OID 1.2.840.10045.3.1.7 (prime256v1).
  static const CK_BYTE kP256Oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_KEY_TYPE type = CKK_EC;
  CK_ATTRIBUTE pub[] = {
      Attr(CKA_KEY_TYPE, &type),
      Attr(CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256Oid), sizeof(kP256Oid)),
      Attr(CKA_LABEL, label),
      Attr(CKA_TOKEN, &kTrue),
      Attr(CKA_PRIVATE, &kFalse),
      Attr(CKA_VERIFY, &kTrue),
      Attr(CKA_ENCRYPT, &kFalse),
      Attr(CKA_WRAP, &kFalse),
  };
  CK_ATTRIBUTE priv[] = {
      Attr(CKA_KEY_TYPE, &type), Attr(CKA_LABEL, label),      Attr(CKA_TOKEN, &kTrue),
      Attr(CKA_PRIVATE, &kTrue), Attr(CKA_SENSITIVE, &kTrue), Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_SIGN, &kTrue),    Attr(CKA_DECRYPT, &kFalse),  Attr(CKA_UNWRAP, &kFalse),
      Attr(CKA_DERIVE, &kFalse),
  };
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE priv_handle = CK_INVALID_HANDLE;
  if (auto st = lease.Check(
          lease.fn()->C_GenerateKeyPair(lease.session(), &mech, pub, std::size(pub), priv,
                                        std::size(priv), &pub_handle, &priv_handle),
          "C_GenerateKeyPair");
      !st) {
    return st.error();
  }
  return priv_handle;
}

Status DestroyObject(Lease& lease, CK_OBJECT_HANDLE object) {
  return lease.Check(lease.fn()->C_DestroyObject(lease.session(), object), "C_DestroyObject");
}

Result<std::vector<std::uint8_t>> GetAttributeBytes(Lease& lease, CK_OBJECT_HANDLE object,
                                                    CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr = Attr(type, nullptr, 0);
  if (auto st = lease.Check(lease.fn()->C_GetAttributeValue(lease.session(), object, &attr, 1),
                            "C_GetAttributeValue");
      !st) {
    return st.error();
  }
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION || attr.ulValueLen > 64 * 1024) {
    return MakeError(ErrorCode::kInternal, "token attribute unavailable");
  }
  std::vector<std::uint8_t> value(attr.ulValueLen);
  attr.pValue = value.data();
  if (auto st = lease.Check(lease.fn()->C_GetAttributeValue(lease.session(), object, &attr, 1),
                            "C_GetAttributeValue");
      !st) {
    return st.error();
  }
  value.resize(attr.ulValueLen);
  return value;
}

Result<std::vector<std::uint8_t>> GcmEncrypt(Lease& lease, CK_OBJECT_HANDLE key,
                                             std::span<const std::uint8_t> iv,
                                             std::span<const std::uint8_t> aad,
                                             std::span<const std::uint8_t> plaintext) {
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
  CK_FUNCTION_LIST* fn = lease.fn();
  if (auto st = lease.Check(fn->C_EncryptInit(lease.session(), &mech, key), "C_EncryptInit"); !st) {
    return st.error();
  }
  std::vector<std::uint8_t> out(plaintext.size() + 16);
  CK_ULONG out_len = out.size();
  // SoftHSM 2.6 refuses a NULL data pointer even for zero bytes.
  CK_BYTE empty = 0;
  CK_BYTE* data = plaintext.empty() ? &empty : const_cast<CK_BYTE*>(plaintext.data());
  if (auto st =
          lease.Check(fn->C_Encrypt(lease.session(), data, plaintext.size(), out.data(), &out_len),
                      "C_Encrypt");
      !st) {
    lease.Discard();  // the operation may still be active
    return st.error();
  }
  if (out_len != plaintext.size() + 16) {
    return MakeError(ErrorCode::kInternal, "token returned a GCM output of unexpected length");
  }
  return out;
}

Result<Secret> GcmDecrypt(Lease& lease, CK_OBJECT_HANDLE key, std::span<const std::uint8_t> iv,
                          std::span<const std::uint8_t> aad,
                          std::span<const std::uint8_t> ciphertext_and_tag) {
  if (ciphertext_and_tag.size() < 16) {
    return MakeError(ErrorCode::kInvalidArgument, "GCM input shorter than its tag");
  }
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
  CK_FUNCTION_LIST* fn = lease.fn();
  if (auto st = lease.Check(fn->C_DecryptInit(lease.session(), &mech, key), "C_DecryptInit"); !st) {
    return st.error();
  }
  // SoftHSM 2.6 checks the output buffer against the full input length.
  Secret plain(ciphertext_and_tag.size());
  CK_ULONG plain_len = plain.size();
  CK_RV rv = fn->C_Decrypt(lease.session(), const_cast<CK_BYTE*>(ciphertext_and_tag.data()),
                           ciphertext_and_tag.size(), plain.mutable_bytes().data(), &plain_len);
  if (rv != CKR_OK) {
    // SoftHSM 2.6 reports a failed tag as CKR_GENERAL_ERROR (newer tokens say
    // CKR_ENCRYPTED_DATA_INVALID). Tell it apart from a sick device by asking
    // the same session for its state: if that works, the data was at fault.
    if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
      CK_SESSION_INFO info{};
      if (fn->C_GetSessionInfo(lease.session(), &info) == CKR_OK) {
        return MakeError(ErrorCode::kIntegrity, "wrapped key failed authentication");
      }
    }
    // SoftHSM ends the operation on a failed tag (the session stays
    // usable); for anything else the operation state is unknown.
    lease.Discard();
    if (ClassifyRv(rv) == RvClass::kIntegrity) {
      return MakeError(ErrorCode::kIntegrity, "wrapped key failed authentication");
    }
    return lease.Check(rv, "C_Decrypt").error();
  }
  if (plain_len != ciphertext_and_tag.size() - 16) {
    return MakeError(ErrorCode::kInternal, "token returned a GCM output of unexpected length");
  }
  plain.truncate(plain_len);
  return plain;
}

Result<std::vector<std::uint8_t>> SignEcdsa(Lease& lease, CK_OBJECT_HANDLE private_key,
                                            std::span<const std::uint8_t> digest) {
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  CK_FUNCTION_LIST* fn = lease.fn();
  if (auto st = lease.Check(fn->C_SignInit(lease.session(), &mech, private_key), "C_SignInit");
      !st) {
    return st.error();
  }
  std::vector<std::uint8_t> sig(64);
  CK_ULONG sig_len = sig.size();
  if (auto st = lease.Check(fn->C_Sign(lease.session(), const_cast<CK_BYTE*>(digest.data()),
                                       digest.size(), sig.data(), &sig_len),
                            "C_Sign");
      !st) {
    lease.Discard();  // the operation may still be active
    return st.error();
  }
  if (sig_len != 64) return MakeError(ErrorCode::kInternal, "ECDSA signature of unexpected length");
  return sig;
}

Result<std::vector<std::string>> MissingCapabilities(CK_FUNCTION_LIST* fn, CK_SLOT_ID slot) {
  // The list is authoritative: SoftHSM's slots.mechanisms filter hides
  // mechanisms from C_GetMechanismList but still answers C_GetMechanismInfo.
  CK_ULONG count = 0;
  if (CK_RV rv = fn->C_GetMechanismList(slot, nullptr, &count); rv != CKR_OK) {
    return RvError(rv, "C_GetMechanismList");
  }
  std::vector<CK_MECHANISM_TYPE> listed(count);
  if (CK_RV rv = fn->C_GetMechanismList(slot, listed.data(), &count); rv != CKR_OK) {
    return RvError(rv, "C_GetMechanismList");
  }
  listed.resize(count);
  std::vector<std::string> missing;
  auto probe = [&](CK_MECHANISM_TYPE mech, CK_FLAGS flags, CK_ULONG min_max_key,
                   const char* name) -> Status {
    CK_MECHANISM_INFO info{};
    if (std::find(listed.begin(), listed.end(), mech) == listed.end()) {
      missing.emplace_back(name);
      return {};
    }
    CK_RV rv = fn->C_GetMechanismInfo(slot, mech, &info);
    if (rv == CKR_MECHANISM_INVALID) {
      missing.emplace_back(name);
      return {};
    }
    if (rv != CKR_OK) return RvError(rv, "C_GetMechanismInfo");
    if ((info.flags & flags) != flags || info.ulMaxKeySize < min_max_key) {
      missing.emplace_back(name);
    }
    return {};
  };
  // SoftHSM states AES key sizes in bytes and EC sizes in bits; the minimums
  // below hold under either unit.
  if (auto st = probe(CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT, 32, "CKM_AES_GCM(encrypt,decrypt)");
      !st) {
    return st.error();
  }
  if (auto st = probe(CKM_AES_KEY_GEN, CKF_GENERATE, 32, "CKM_AES_KEY_GEN"); !st) {
    return st.error();
  }
  if (auto st = probe(CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, 256, "CKM_EC_KEY_PAIR_GEN");
      !st) {
    return st.error();
  }
  if (auto st = probe(CKM_ECDSA, CKF_SIGN, 256, "CKM_ECDSA(sign)"); !st) return st.error();
  CK_TOKEN_INFO info{};
  if (CK_RV rv = fn->C_GetTokenInfo(slot, &info); rv != CKR_OK) {
    return RvError(rv, "C_GetTokenInfo");
  }
  if ((info.flags & CKF_RNG) == 0) missing.emplace_back("RNG");
  return missing;
}

}  // namespace kmsd::hsm
