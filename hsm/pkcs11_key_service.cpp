#include "hsm/pkcs11_key_service.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common/openssl_ptr.h"
#include "hsm/kek_label.h"
#include "hsm/module.h"
#include "hsm/pin_file.h"
#include "hsm/session_pool.h"
#include "hsm/token_ops.h"
#include "hsm/wrapped_key.h"

namespace kmsd::hsm {
namespace {

constexpr std::size_t kMaxPoolSize = 64;
constexpr std::string_view kHealthAad = "kmsd-health-probe";

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Status ValidateAad(std::span<const std::uint8_t> aad) {
  if (aad.size() > kMaxAadSize) return MakeError(ErrorCode::kInvalidArgument, "AAD too large");
  return {};
}

// CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (65 bytes
// for P-256); some tokens return the bare point. Accept both, nothing else.
Result<std::span<const std::uint8_t>> EcPointFromAttribute(std::span<const std::uint8_t> attr) {
  if (attr.size() == 65 && attr[0] == 0x04) return attr;
  if (attr.size() == 67 && attr[0] == 0x04 && attr[1] == 65 && attr[2] == 0x04) {
    return attr.subspan(2);
  }
  return MakeError(ErrorCode::kInternal, "audit signer public key has an unexpected encoding");
}

Result<std::vector<std::uint8_t>> P256PointToSpki(std::span<const std::uint8_t> point) {
  auto fail = [] { return MakeError(ErrorCode::kInternal, "cannot encode audit signer key"); };
  std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<&OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return fail();
  }
  std::unique_ptr<OSSL_PARAM, OpenSslDeleter<&OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return fail();
  }
  PkeyPtr pkey(raw);
  const int len = i2d_PUBKEY(pkey.get(), nullptr);
  if (len <= 0) return fail();
  std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
  std::uint8_t* out = der.data();
  if (i2d_PUBKEY(pkey.get(), &out) != len) return fail();
  return der;
}

}  // namespace

struct Pkcs11KeyService::Impl {
  std::string prefix;
  std::shared_ptr<Module> module;
  std::unique_ptr<SessionPool> pool;

  // Serialises creation of token objects (CreateKek, on-demand keys) so one
  // process never creates a label twice. Taken before any Lease.
  std::mutex create_mu;

  // label+class → object handle, valid for one pool epoch.
  std::mutex cache_mu;
  std::unordered_map<std::string, CK_OBJECT_HANDLE> cache;
  std::uint64_t cache_epoch = 0;

  std::atomic<std::uint64_t> unavailable_errors{0};

  static std::string CacheKey(CK_OBJECT_CLASS cls, std::string_view label) {
    return std::to_string(cls) + "/" + std::string(label);
  }

  void Forget(CK_OBJECT_CLASS cls, std::string_view label) {
    std::lock_guard lock(cache_mu);
    cache.erase(CacheKey(cls, label));
  }
  void ForgetAll() {
    std::lock_guard lock(cache_mu);
    cache.clear();
  }

  static bool IsLoggedIn(Lease& lease) {
    CK_SESSION_INFO info{};
    return lease.fn()->C_GetSessionInfo(lease.session(), &info) != CKR_OK ||
           info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS;
  }

  // The one object of class `cls` labelled `label`, from the cache or found
  // in the token. kNotFound if none, kInternal if the label is ambiguous.
  Result<CK_OBJECT_HANDLE> FindKey(Lease& lease, CK_OBJECT_CLASS cls, std::string_view label) {
    const std::string key = CacheKey(cls, label);
    const std::uint64_t epoch = pool->epoch();
    {
      std::lock_guard lock(cache_mu);
      if (cache_epoch != pool->epoch()) {
        cache.clear();
        cache_epoch = pool->epoch();
      }
      if (auto it = cache.find(key); it != cache.end()) return it->second;
    }
    auto found = FindObjectsByLabel(lease, cls, label, 2);
    if (!found) return found.error();
    if (found->empty() && !IsLoggedIn(lease)) {
      // Private objects are invisible, not missing, once the token is logged
      // out (C_Logout by another user of the module in this process): log
      // in again (token-wide) and search once more.
      if (auto login = pool->LoginAgain(lease); !login) return login.error();
      found = FindObjectsByLabel(lease, cls, label, 2);
      if (!found) return found.error();
    }
    if (found->empty()) {
      return MakeError(ErrorCode::kNotFound, "no token key labelled " + std::string(label));
    }
    if (found->size() > 1) {
      return MakeError(ErrorCode::kInternal, "two token keys are labelled " + std::string(label));
    }
    // Cache only if no session loss happened meanwhile (the handle might be
    // from before it).
    std::lock_guard lock(cache_mu);
    if (cache_epoch == epoch && pool->epoch() == epoch) cache[key] = found->front();
    return found->front();
  }

  // Runs `op` on a leased session. After a session-level failure the session
  // is replaced and `op` runs once more; after a device-level failure the
  // module is re-initialised first; after a stale handle the cache is dropped.
  template <class T, class Op>
  Result<T> Run(Op&& op) {
    for (int attempt = 0;; ++attempt) {
      RvClass failure = RvClass::kOk;
      std::uint64_t generation = 0;
      Result<T> result = [&]() -> Result<T> {
        auto lease = pool->Acquire(&failure, &generation);
        if (!lease) return lease.error();
        Result<T> r = op(*lease);
        if (!r) failure = lease->failure();
        return r;
      }();  // the lease ends here, before any recovery
      if (result) return result;
      const bool retryable = failure == RvClass::kSession || failure == RvClass::kDevice ||
                             failure == RvClass::kStaleObject;
      if (retryable) ForgetAll();
      if (failure == RvClass::kDevice) {
        if (auto st = pool->Recover(generation); !st) return Unavailable(st.error());
      }
      if (!retryable || attempt >= 1) {
        if (result.error().code == ErrorCode::kHsmUnavailable) ++unavailable_errors;
        return result;
      }
    }
  }

  Error Unavailable(Error error) {
    ++unavailable_errors;
    return error;
  }

  // Finds the object, creating it with `create` if absent (serialised).
  template <class Create>
  Result<CK_OBJECT_HANDLE> Ensure(CK_OBJECT_CLASS cls, const std::string& label, Create create) {
    auto find = [&](Lease& lease) { return FindKey(lease, cls, label); };
    auto found = Run<CK_OBJECT_HANDLE>(find);
    if (found || found.error().code != ErrorCode::kNotFound) return found;
    std::lock_guard lock(create_mu);
    return Run<CK_OBJECT_HANDLE>([&](Lease& lease) -> Result<CK_OBJECT_HANDLE> {
      auto again = FindKey(lease, cls, label);
      if (again || again.error().code != ErrorCode::kNotFound) return again;
      spdlog::info("hsm: creating token key {}", label);
      return create(lease);
    });
  }

  // Wraps `plaintext` under the key labelled `label` on an already leased
  // session: a fresh IV from the token RNG, AES-256-GCM in the token.
  Result<std::vector<std::uint8_t>> WrapOn(Lease& lease, const std::string& label,
                                           std::uint32_t version, const Secret& plaintext,
                                           std::span<const std::uint8_t> aad) {
    auto key = FindKey(lease, CKO_SECRET_KEY, label);
    if (!key) return key.error();
    std::array<std::uint8_t, kGcmIvSize> iv{};
    if (auto st = GenerateRandom(lease, iv); !st) return st.error();
    const auto header = WrappedKeyHeader(version);
    auto ct = GcmEncrypt(lease, *key, iv, EffectiveAad(header, aad), plaintext.expose());
    if (!ct) return ct.error();
    return SerializeWrappedKey(version, iv, *ct);
  }

  Result<std::vector<std::uint8_t>> Wrap(const std::string& label, std::uint32_t version,
                                         const Secret& plaintext,
                                         std::span<const std::uint8_t> aad) {
    return Run<std::vector<std::uint8_t>>(
        [&](Lease& lease) { return WrapOn(lease, label, version, plaintext, aad); });
  }

  // A fresh data key from the token RNG, wrapped: one lease for both.
  Result<GeneratedDataKey> Generate(const std::string& label, std::uint32_t version,
                                    std::span<const std::uint8_t> aad) {
    return Run<GeneratedDataKey>([&](Lease& lease) -> Result<GeneratedDataKey> {
      Secret plaintext(kDataKeySize);
      if (auto st = GenerateRandom(lease, plaintext.mutable_bytes()); !st) return st.error();
      auto wrapped = WrapOn(lease, label, version, plaintext, aad);
      if (!wrapped) return wrapped.error();
      return GeneratedDataKey{std::move(plaintext), std::move(*wrapped)};
    });
  }

  Result<Secret> UnwrapBlob(const std::string& label, std::uint32_t version,
                            std::span<const std::uint8_t> blob, std::span<const std::uint8_t> aad) {
    // Everything about the blob is checked before the token is touched.
    auto view = ParseWrappedKey(blob);
    if (!view) return view.error();
    if (view->kek_version != version) {
      return MakeError(ErrorCode::kInvalidArgument, "wrapped key belongs to another KEK version");
    }
    if (auto st = ValidateAad(aad); !st) return st.error();
    const auto effective_aad = EffectiveAad(view->header, aad);
    const auto sealed = blob.subspan(kWrappedKeyHeaderSize + kGcmIvSize);
    return Run<Secret>([&](Lease& lease) -> Result<Secret> {
      auto key = FindKey(lease, CKO_SECRET_KEY, label);
      if (!key) return key.error();
      auto plain = GcmDecrypt(lease, *key, view->iv, effective_aad, sealed);
      if (!plain) return plain.error();
      if (plain->size() != kDataKeySize) {
        return MakeError(ErrorCode::kInternal, "unwrapped key has the wrong size");
      }
      return plain;
    });
  }
};

Pkcs11KeyService::Pkcs11KeyService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pkcs11KeyService::~Pkcs11KeyService() = default;

SessionPool& Pkcs11KeyService::pool() { return *impl_->pool; }

Pkcs11Stats Pkcs11KeyService::stats() const {
  const PoolCounters& c = impl_->pool->counters();
  Pkcs11Stats s;
  s.login_attempts = c.login_attempts.load();
  s.session_reopens = c.session_reopens.load();
  s.reinitializations = c.reinitializations.load();
  s.unavailable_errors = impl_->unavailable_errors.load();
  return s;
}

Result<GeneratedDataKey> Pkcs11KeyService::GenerateDataKey(const KekId& kek,
                                                           std::span<const std::uint8_t> aad) {
  if (auto st = ValidateKekId(kek); !st) return st.error();
  if (auto st = ValidateAad(aad); !st) return st.error();
  return impl_->Generate(KekLabel(impl_->prefix, kek), kek.version, aad);
}

Result<Secret> Pkcs11KeyService::Unwrap(const KekId& kek, std::span<const std::uint8_t> wrapped,
                                        std::span<const std::uint8_t> aad) {
  if (auto st = ValidateKekId(kek); !st) return st.error();
  return impl_->UnwrapBlob(KekLabel(impl_->prefix, kek), kek.version, wrapped, aad);
}

Result<std::vector<std::uint8_t>> Pkcs11KeyService::Rewrap(const KekId& from,
                                                           std::span<const std::uint8_t> wrapped,
                                                           std::span<const std::uint8_t> old_aad,
                                                           const KekId& to,
                                                           std::span<const std::uint8_t> new_aad) {
  if (auto st = ValidateKekId(to); !st) return st.error();
  if (auto st = ValidateAad(new_aad); !st) return st.error();
  auto plaintext = Unwrap(from, wrapped, old_aad);
  if (!plaintext) return plaintext.error();
  return impl_->Wrap(KekLabel(impl_->prefix, to), to.version, *plaintext, new_aad);
}  // the plaintext Secret is wiped here

Status Pkcs11KeyService::CreateKek(const KekId& kek) {
  if (auto st = ValidateKekId(kek); !st) return st;
  const std::string label = KekLabel(impl_->prefix, kek);
  std::lock_guard lock(impl_->create_mu);
  auto created = impl_->Run<CK_OBJECT_HANDLE>([&](Lease& lease) -> Result<CK_OBJECT_HANDLE> {
    auto existing = FindObjectsByLabel(lease, CKO_SECRET_KEY, label, 1);
    if (!existing) return existing.error();
    if (!existing->empty()) return MakeError(ErrorCode::kConflict, "KEK exists: " + label);
    return GenerateAesTokenKey(lease, label);
  });
  if (!created) return created.error();
  spdlog::info("hsm: created KEK {}", label);
  return {};
}

Status Pkcs11KeyService::DestroyKek(const KekId& kek) {
  if (auto st = ValidateKekId(kek); !st) return st;
  const std::string label = KekLabel(impl_->prefix, kek);
  std::lock_guard lock(impl_->create_mu);
  auto destroyed = impl_->Run<bool>([&](Lease& lease) -> Result<bool> {
    // Every object with the label goes: crypto-shredding must not leave a
    // duplicate behind.
    auto found = FindObjectsByLabel(lease, CKO_SECRET_KEY, label, SIZE_MAX);
    if (!found) return found.error();
    if (found->empty()) return MakeError(ErrorCode::kNotFound, "no KEK " + label);
    for (CK_OBJECT_HANDLE h : *found) {
      if (auto st = DestroyObject(lease, h); !st) return st.error();
    }
    return true;
  });
  impl_->Forget(CKO_SECRET_KEY, label);
  if (!destroyed) return destroyed.error();
  spdlog::info("hsm: destroyed KEK {}", label);
  return {};
}

Result<std::vector<std::uint32_t>> Pkcs11KeyService::ListKekVersions(std::string_view tenant) {
  if (auto st = ValidateTenant(tenant); !st) return st.error();
  return impl_->Run<std::vector<std::uint32_t>>(
      [&](Lease& lease) -> Result<std::vector<std::uint32_t>> {
        auto objects = ListObjects(lease, CKO_SECRET_KEY);
        if (!objects) return objects.error();
        std::vector<std::uint32_t> versions;
        for (const auto& object : *objects) {
          if (auto v = ParseKekLabelVersion(impl_->prefix, tenant, object.label)) {
            versions.push_back(*v);
          }
        }
        std::sort(versions.begin(), versions.end());
        versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
        return versions;
      });
}

Status Pkcs11KeyService::CheckHealth() {
  const std::string label = HealthKekLabel(impl_->prefix);
  auto key = impl_->Ensure(CKO_SECRET_KEY, label,
                           [&](Lease& lease) { return GenerateAesTokenKey(lease, label); });
  if (!key) return key.error();
  auto generated = impl_->Generate(label, 1, AsBytes(kHealthAad));
  if (!generated) return generated.error();
  auto unwrapped = impl_->UnwrapBlob(label, 1, generated->wrapped, AsBytes(kHealthAad));
  if (!unwrapped) return unwrapped.error();
  if (!unwrapped->Equals(generated->plaintext.expose())) {
    return MakeError(ErrorCode::kIntegrity, "health probe round trip returned other bytes");
  }
  return {};
}

Result<std::vector<std::uint8_t>> Pkcs11KeyService::SignAuditCheckpoint(
    std::span<const std::uint8_t> message) {
  const std::string label = AuditSignerLabel(impl_->prefix);
  auto signer = impl_->Ensure(CKO_PRIVATE_KEY, label, [&](Lease& lease) {
    return GenerateEcP256TokenKeyPair(lease, label);
  });
  if (!signer) return signer.error();
  std::array<std::uint8_t, 32> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(message.data(), message.size(), digest.data(), &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return MakeError(ErrorCode::kInternal, "SHA-256 failed");
  }
  return impl_->Run<std::vector<std::uint8_t>>(
      [&](Lease& lease) -> Result<std::vector<std::uint8_t>> {
        auto key = impl_->FindKey(lease, CKO_PRIVATE_KEY, label);
        if (!key) return key.error();
        return SignEcdsa(lease, *key, digest);
      });
}

Result<std::vector<std::uint8_t>> Pkcs11KeyService::AuditSignerPublicKeyDer() {
  const std::string label = AuditSignerLabel(impl_->prefix);
  auto signer = impl_->Ensure(CKO_PRIVATE_KEY, label, [&](Lease& lease) {
    return GenerateEcP256TokenKeyPair(lease, label);
  });
  if (!signer) return signer.error();
  auto attr =
      impl_->Run<std::vector<std::uint8_t>>([&](Lease& lease) -> Result<std::vector<std::uint8_t>> {
        auto key = impl_->FindKey(lease, CKO_PUBLIC_KEY, label);
        if (!key) return key.error();
        return GetAttributeBytes(lease, *key, CKA_EC_POINT);
      });
  if (!attr) return attr.error();
  auto point = EcPointFromAttribute(*attr);
  if (!point) return point.error();
  return P256PointToSpki(*point);
}

namespace {

Status ValidateKeyLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxKeyLabelLength) {
    return MakeError(ErrorCode::kInvalidArgument, "token key label must be 1..64 bytes");
  }
  return {};
}

}  // namespace

Result<GcmSealed> Pkcs11KeyService::EncryptWithLabeledKey(std::string_view label,
                                                          std::span<const std::uint8_t> aad,
                                                          std::span<const std::uint8_t> plaintext) {
  if (auto st = ValidateKeyLabel(label); !st) return st.error();
  if (auto st = ValidateAad(aad); !st) return st.error();
  if (plaintext.size() > kMaxLabeledPlaintext) {
    return MakeError(ErrorCode::kInvalidArgument, "plaintext too large");
  }
  return impl_->Run<GcmSealed>([&](Lease& lease) -> Result<GcmSealed> {
    auto key = impl_->FindKey(lease, CKO_SECRET_KEY, label);
    if (!key) return key.error();
    GcmSealed sealed;
    sealed.iv.resize(kGcmIvSize);
    if (auto st = GenerateRandom(lease, sealed.iv); !st) return st.error();
    auto out = GcmEncrypt(lease, *key, sealed.iv, aad, plaintext);
    if (!out) return out.error();
    const std::size_t n = plaintext.size();
    sealed.ciphertext.assign(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(n));
    std::copy(out->begin() + static_cast<std::ptrdiff_t>(n), out->end(), sealed.tag.begin());
    return sealed;
  });
}

Result<Secret> Pkcs11KeyService::DecryptWithLabeledKey(std::string_view label,
                                                       std::span<const std::uint8_t> iv,
                                                       std::span<const std::uint8_t> aad,
                                                       std::span<const std::uint8_t> ciphertext,
                                                       std::span<const std::uint8_t> tag) {
  if (auto st = ValidateKeyLabel(label); !st) return st.error();
  if (auto st = ValidateAad(aad); !st) return st.error();
  if (iv.size() != 12 && iv.size() != 16) {
    return MakeError(ErrorCode::kInvalidArgument, "IV must be 12 or 16 bytes");
  }
  if (tag.size() != 16) return MakeError(ErrorCode::kInvalidArgument, "tag must be 16 bytes");
  if (ciphertext.size() > kMaxLabeledPlaintext) {
    return MakeError(ErrorCode::kInvalidArgument, "ciphertext too large");
  }
  // PKCS#11 takes ciphertext || tag in one buffer; it is not secret.
  std::vector<std::uint8_t> sealed(ciphertext.begin(), ciphertext.end());
  sealed.insert(sealed.end(), tag.begin(), tag.end());
  return impl_->Run<Secret>([&](Lease& lease) -> Result<Secret> {
    auto key = impl_->FindKey(lease, CKO_SECRET_KEY, label);
    if (!key) return key.error();
    return GcmDecrypt(lease, *key, iv, aad, sealed);
  });
}

Result<LabeledKeyInfo> Pkcs11KeyService::DescribeLabeledKey(std::string_view label) {
  if (auto st = ValidateKeyLabel(label); !st) return st.error();
  return impl_->Run<LabeledKeyInfo>([&](Lease& lease) -> Result<LabeledKeyInfo> {
    auto key = impl_->FindKey(lease, CKO_SECRET_KEY, label);
    if (!key) return key.error();
    auto scalar = [&](CK_ATTRIBUTE_TYPE type) -> Result<CK_ULONG> {
      auto bytes = GetAttributeBytes(lease, *key, type);
      if (!bytes) return bytes.error();
      if (bytes->size() == sizeof(CK_ULONG)) {
        CK_ULONG value = 0;
        std::memcpy(&value, bytes->data(), sizeof value);
        return value;
      }
      if (bytes->size() == sizeof(CK_BBOOL)) return static_cast<CK_ULONG>((*bytes)[0]);
      return MakeError(ErrorCode::kInternal, "token attribute of unexpected size");
    };
    auto type = scalar(CKA_KEY_TYPE);
    if (!type) return type.error();
    auto length = scalar(CKA_VALUE_LEN);
    if (!length) return length.error();
    auto encrypt = scalar(CKA_ENCRYPT);
    if (!encrypt) return encrypt.error();
    auto decrypt = scalar(CKA_DECRYPT);
    if (!decrypt) return decrypt.error();
    return LabeledKeyInfo{*type == CKK_AES && *length == 32, *encrypt != 0, *decrypt != 0};
  });
}

Status Pkcs11KeyService::EnsureLabeledAesKey(std::string_view label) {
  if (auto st = ValidateKeyLabel(label); !st) return st;
  const std::string name(label);
  auto key = impl_->Ensure(CKO_SECRET_KEY, name,
                           [&](Lease& lease) { return GenerateAesTokenKey(lease, name); });
  if (!key) return key.error();
  return {};
}

Result<std::unique_ptr<Pkcs11KeyService>> OpenPkcs11KeyService(const TokenConfig& config) {
  if (config.module_path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "token module path is empty");
  }
  if (config.token_label.empty() || config.token_label.size() > 32) {
    return MakeError(ErrorCode::kInvalidArgument, "token label must be 1..32 bytes");
  }
  if (auto st = ValidateLabelPrefix(config.kek_label_prefix); !st) return st.error();
  if (config.pool_size == 0 || config.pool_size > kMaxPoolSize) {
    return MakeError(ErrorCode::kInvalidArgument, "token pool size must be 1..64");
  }
  auto pin = ReadPinFile(config.pin_file);
  if (!pin) return pin.error();
  auto module = Module::Get(config.module_path);
  if (!module) return module.error();

  auto impl = std::make_unique<Pkcs11KeyService::Impl>();
  impl->prefix = config.kek_label_prefix;
  impl->module = *module;
  impl->pool =
      std::make_unique<SessionPool>(*module, config.token_label, std::move(*pin), config.pool_size);
  if (auto st = impl->pool->Start(); !st) return st.error();

  auto missing = impl->Run<std::vector<std::string>>(
      [](Lease& lease) { return MissingCapabilities(lease.fn(), lease.slot()); });
  if (!missing) return missing.error();
  if (!missing->empty()) {
    std::string names;
    for (const auto& name : *missing) names += (names.empty() ? "" : ", ") + name;
    spdlog::error("hsm: token {} lacks required mechanisms: {}", config.token_label, names);
    return MakeError(ErrorCode::kInvalidArgument, "token lacks required mechanisms: " + names);
  }
  spdlog::info("hsm: token {} ready ({} sessions)", config.token_label, config.pool_size);
  return std::unique_ptr<Pkcs11KeyService>(new Pkcs11KeyService(std::move(impl)));
}

}  // namespace kmsd::hsm
