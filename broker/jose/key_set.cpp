#include "broker/jose/key_set.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <array>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/base64.h"
#include "common/json/strict_json.h"

namespace kmsd::jose {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<&BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<&OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OpenSslDeleter<&OSSL_PARAM_free>>;

Error Bad(std::string message) {
  ERR_clear_error();
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2).
constexpr std::array<std::string_view, 7> kPrivateMembers = {"d",  "p",  "q",  "dp",
                                                             "dq", "qi", "oth"};

Result<std::string_view> StringMember(const boost::json::object& obj, std::string_view name) {
  const auto* v = obj.if_contains(name);
  if (v == nullptr || !v->is_string()) return Bad("missing or non-string member");
  return std::string_view(v->as_string());
}

Result<std::vector<std::uint8_t>> BytesMember(const boost::json::object& obj,
                                              std::string_view name) {
  auto text = StringMember(obj, name);
  if (!text) return text.error();
  auto bytes = Base64UrlDecode(*text);
  if (!bytes) return Bad("member is not base64url");
  return bytes;
}

Result<PkeyPtr> FromData(const char* type, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return Bad("invalid public key");
  }
  PkeyPtr key(raw);
  // fromdata takes the parameters as given; check the point / modulus now.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return Bad("invalid public key");
  return key;
}

Result<PkeyPtr> EcKey(const boost::json::object& jwk) {
  auto crv = StringMember(jwk, "crv");
  if (!crv || *crv != "P-256") return Bad("unsupported EC curve");
  auto x = BytesMember(jwk, "x");
  auto y = BytesMember(jwk, "y");
  if (!x || !y || x->size() != 32 || y->size() != 32) return Bad("invalid EC coordinates");
  std::vector<std::uint8_t> point{0x04};  // uncompressed SEC1 point
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  return FromData("EC", params);
}

Result<PkeyPtr> OkpKey(const boost::json::object& jwk) {
  auto crv = StringMember(jwk, "crv");
  if (!crv || *crv != "Ed25519") return Bad("unsupported OKP curve");
  auto x = BytesMember(jwk, "x");
  if (!x || x->size() != 32) return Bad("invalid Ed25519 key");
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size()));
  if (!key) return Bad("invalid Ed25519 key");
  return key;
}

Result<PkeyPtr> RsaKey(const boost::json::object& jwk) {
  auto n = BytesMember(jwk, "n");
  auto e = BytesMember(jwk, "e");
  // RFC 7518 §6.3.1: minimal big-endian encodings, so no leading zero octet.
  if (!n || !e || n->empty() || e->empty() || (*n)[0] == 0 || (*e)[0] == 0) {
    return Bad("invalid RSA key");
  }
  BignumPtr bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  BignumPtr bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Bad("invalid RSA key");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Bad("invalid RSA key");
  return FromData("RSA", params.get());
}

Result<std::pair<std::string, VerificationKey>> ParseJwk(const boost::json::value& entry,
                                                         AlgorithmSet allowed) {
  if (!entry.is_object()) return Bad("not an object");
  const auto& jwk = entry.as_object();
  for (std::string_view member : kPrivateMembers) {
    if (jwk.contains(member)) return Bad("private key member present");
  }
  auto kty = StringMember(jwk, "kty");
  auto kid = StringMember(jwk, "kid");
  auto alg_name = StringMember(jwk, "alg");
  if (!kty || !kid || !alg_name) return Bad("kty, kid and alg are required");
  if (const auto* use = jwk.if_contains("use"); use != nullptr) {
    if (!use->is_string() || use->as_string() != "sig") return Bad("use is not sig");
  }
  const auto alg = ParseAlgorithm(*alg_name);
  if (!alg || !allowed.Contains(*alg)) return Bad("algorithm not allowed");
  Result<PkeyPtr> key = Bad("unsupported kty");
  if (*kty == "EC") {
    key = EcKey(jwk);
  } else if (*kty == "OKP") {
    key = OkpKey(jwk);
  } else if (*kty == "RSA") {
    key = RsaKey(jwk);
  }
  if (!key) return key.error();
  if (!KeyFitsAlgorithm(key->get(), *alg)) return Bad("key does not fit its alg");
  return std::pair{std::string(*kid),
                   VerificationKey{std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free), *alg}};
}

}  // namespace

Status KeySet::Add(std::string kid, PkeyPtr key, Algorithm alg, AlgorithmSet allowed) {
  if (kid.empty() || kid.size() > kMaxKidLength) return Bad("kid empty or too long");
  if (!allowed.Contains(alg)) return Bad("algorithm not allowed");
  if (!KeyFitsAlgorithm(key.get(), alg)) return Bad("key does not fit its alg");
  if (keys_.size() >= kMaxKeysPerSet) return Bad("too many keys");
  if (keys_.contains(kid)) return Bad("duplicate kid");
  keys_.emplace(std::move(kid),
                VerificationKey{std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free), alg});
  return {};
}

const VerificationKey* KeySet::Find(std::string_view kid) const {
  const auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

const VerificationKey* KeySet::Sole() const {
  return keys_.size() == 1 ? &keys_.begin()->second : nullptr;
}

const std::string* KeySet::SoleKid() const {
  return keys_.size() == 1 ? &keys_.begin()->first : nullptr;
}

bool KeySet::OnlyUses(AlgorithmSet algs) const {
  for (const auto& [kid, key] : keys_) {
    if (!algs.Contains(key.alg)) return false;
  }
  return true;
}

Result<KeySet> KeySet::FromJwks(std::string_view jwks_json, AlgorithmSet allowed) {
  if (jwks_json.size() > kMaxJwksBytes) return Bad("JWKS too large");
  auto doc = json::ParseStrictJson(jwks_json);
  if (!doc) return Bad("JWKS is not strict JSON");
  const auto* keys = doc->is_object() ? doc->as_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return Bad("JWKS has no keys array");
  // An empty set verifies nothing: a verifier built on it would refuse every
  // caller while it looks configured.
  if (keys->as_array().empty()) return Bad("JWKS holds no key");
  KeySet set;
  std::size_t index = 0;
  for (const auto& entry : keys->as_array()) {
    auto parsed = ParseJwk(entry, allowed);
    if (!parsed) {
      return Bad("JWKS key " + std::to_string(index) + ": " + parsed.error().message);
    }
    auto& [kid, vkey] = *parsed;
    if (kid.empty() || kid.size() > kMaxKidLength) {
      return Bad("JWKS key " + std::to_string(index) + ": kid empty or too long");
    }
    if (set.keys_.size() >= kMaxKeysPerSet) return Bad("too many keys");
    if (!set.keys_.emplace(std::move(kid), std::move(vkey)).second) {
      return Bad("JWKS key " + std::to_string(index) + ": duplicate kid");
    }
    ++index;
  }
  return set;
}

Result<PkeyPtr> ParsePublicKeyPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Bad("cannot read PEM");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Bad("not a PEM public key");
  return key;
}

Result<KeySet> KeySet::FromPublicKeyPem(std::string kid, std::string_view pem, Algorithm alg,
                                        AlgorithmSet allowed) {
  auto key = ParsePublicKeyPem(pem);
  if (!key) return key.error();
  KeySet set;
  if (auto added = set.Add(std::move(kid), std::move(*key), alg, allowed); !added) {
    return added.error();
  }
  return set;
}

}  // namespace kmsd::jose
