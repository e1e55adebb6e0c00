// Pkcs11KeyService against a real SoftHSM2 token: wrap/unwrap behaviour,
// KEK life cycle, health probe and audit signer.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/openssl_ptr.h"
#include "hsm/kek_label.h"
#include "hsm/wrapped_key.h"
#include "tests/integration/hsm/key_service_fixture.h"

namespace kmsd::hsm {
namespace {

const std::string_view kAad = "tenant=acme;context=c1;asset=a1";

TEST_F(KeyServiceTest, GenerateThenUnwrapRoundTrips) {
  auto generated = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(generated) << generated.error().message;
  EXPECT_EQ(generated->plaintext.size(), kDataKeySize);
  EXPECT_EQ(generated->wrapped.size(), kWrappedKeySize);
  auto unwrapped = service_->Unwrap(kAcme1, generated->wrapped, Bytes(kAad));
  ASSERT_TRUE(unwrapped) << unwrapped.error().message;
  EXPECT_TRUE(unwrapped->Equals(generated->plaintext.expose()));
}

TEST_F(KeyServiceTest, KeysAndIvsAreFreshEachTime) {
  std::set<std::vector<std::uint8_t>> keys, ivs;
  for (int i = 0; i < 50; ++i) {
    auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
    ASSERT_TRUE(g);
    auto view = ParseWrappedKey(g->wrapped);
    ASSERT_TRUE(view);
    keys.emplace(g->plaintext.expose().begin(), g->plaintext.expose().end());
    ivs.emplace(view->iv.begin(), view->iv.end());
  }
  EXPECT_EQ(keys.size(), 50u);
  EXPECT_EQ(ivs.size(), 50u);
}

TEST_F(KeyServiceTest, EmptyAadRoundTripsAndDiffersFromNonEmpty) {
  auto g = service_->GenerateDataKey(kAcme1, {});
  ASSERT_TRUE(g);
  EXPECT_TRUE(service_->Unwrap(kAcme1, g->wrapped, {}));
  EXPECT_EQ(service_->Unwrap(kAcme1, g->wrapped, Bytes("x")).error().code, ErrorCode::kIntegrity);
}

TEST_F(KeyServiceTest, DifferentAadIsIntegrityError) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  auto u = service_->Unwrap(kAcme1, g->wrapped, Bytes("tenant=acme;context=c2;asset=a1"));
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ErrorCode::kIntegrity);
}

TEST_F(KeyServiceTest, AnotherKekVersionIsRefused) {
  ASSERT_TRUE(service_->CreateKek({"acme", 2}));
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  // Asked for v2, blob says v1: refused before the token is asked.
  EXPECT_EQ(service_->Unwrap({"acme", 2}, g->wrapped, Bytes(kAad)).error().code,
            ErrorCode::kInvalidArgument);
  // Blob re-labelled to v2: the header is authenticated and the key differs.
  auto relabelled = g->wrapped;
  relabelled[4] = 2;
  EXPECT_EQ(service_->Unwrap({"acme", 2}, relabelled, Bytes(kAad)).error().code,
            ErrorCode::kIntegrity);
}

TEST_F(KeyServiceTest, AnotherTenantsKekIsIntegrityError) {
  ASSERT_TRUE(service_->CreateKek({"globex", 1}));
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  auto u = service_->Unwrap({"globex", 1}, g->wrapped, Bytes(kAad));
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ErrorCode::kIntegrity);
}

TEST_F(KeyServiceTest, EverySingleBitFlipFailsWithTheRightError) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  for (std::size_t byte = 0; byte < g->wrapped.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto blob = g->wrapped;
      blob[byte] ^= static_cast<std::uint8_t>(1 << bit);
      auto u = service_->Unwrap(kAcme1, blob, Bytes(kAad));
      ASSERT_FALSE(u) << "byte " << byte << " bit " << bit;
      // Header fields (format, KEK version, mechanism, lengths) are checked
      // by the parser; IV, ciphertext and tag by the token's GCM tag.
      const ErrorCode expected =
          byte < kWrappedKeyHeaderSize ? ErrorCode::kInvalidArgument : ErrorCode::kIntegrity;
      EXPECT_EQ(u.error().code, expected) << "byte " << byte << " bit " << bit;
    }
  }
  // The service is still healthy after 544 failures.
  EXPECT_TRUE(service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad)));
}

TEST_F(KeyServiceTest, MalformedBlobsAreRejectedBeforeAnyTokenCall) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  // Take the module down underneath the service: any PKCS#11 call from now
  // on fails and would trigger a re-initialisation, which we count.
  WithLease([](Lease& lease) { lease.fn()->C_Finalize(nullptr); });
  const auto inits_before = service_->pool().module().initializations();

  std::vector<std::vector<std::uint8_t>> bad;
  bad.emplace_back();
  for (std::size_t n = 1; n < g->wrapped.size(); ++n) {
    bad.emplace_back(g->wrapped.begin(), g->wrapped.begin() + static_cast<std::ptrdiff_t>(n));
  }
  auto trailing = g->wrapped;
  trailing.push_back(0);
  bad.push_back(trailing);
  bad.emplace_back(1 << 16, 0x01);
  for (const auto& blob : bad) {
    auto u = service_->Unwrap(kAcme1, blob, Bytes(kAad));
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().code, ErrorCode::kInvalidArgument) << "size " << blob.size();
  }
  std::vector<std::uint8_t> big_aad(kMaxAadSize + 1);
  EXPECT_EQ(service_->Unwrap(kAcme1, g->wrapped, big_aad).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->pool().module().initializations(), inits_before);
  EXPECT_EQ(service_->stats().reinitializations, 0u);
  // The next real call recovers the module.
  EXPECT_TRUE(service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad)));
  EXPECT_EQ(service_->stats().reinitializations, 1u);
}

TEST_F(KeyServiceTest, InvalidKekIdsAndAadAreRefused) {
  EXPECT_EQ(service_->GenerateDataKey({"a:b", 1}, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->GenerateDataKey({"acme", 0}, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->GenerateDataKey({"_health", 1}, {}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->CreateKek({std::string(65, 'a'), 1}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->ListKekVersions("").error().code, ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> big_aad(kMaxAadSize + 1);
  EXPECT_EQ(service_->GenerateDataKey(kAcme1, big_aad).error().code, ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> max_aad(kMaxAadSize, 7);
  EXPECT_TRUE(service_->GenerateDataKey(kAcme1, max_aad));
}

TEST_F(KeyServiceTest, UnknownKekIsNotFound) {
  EXPECT_EQ(service_->GenerateDataKey({"nobody", 1}, {}).error().code, ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, CreatingAnExistingKekIsConflict) {
  const auto before = ObjectCount();
  auto st = service_->CreateKek(kAcme1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(ObjectCount(), before);
}

TEST_F(KeyServiceTest, DuplicateLabelInTokenIsAnErrorNotASilentPick) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  // A second object with the same label, made behind the service's back
  // (another process, an operator), after the service cached the first.
  WithLease([](Lease& lease) { ASSERT_TRUE(GenerateAesTokenKey(lease, "kmsd:acme:v1")); });
  auto other = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)->GenerateDataKey(kAcme1, {}).error().code, ErrorCode::kInternal);
  EXPECT_EQ((*other)->Unwrap(kAcme1, g->wrapped, Bytes(kAad)).error().code, ErrorCode::kInternal);
  // Destroying the version removes both copies.
  ASSERT_TRUE((*other)->DestroyKek(kAcme1));
  EXPECT_EQ((*other)->GenerateDataKey(kAcme1, {}).error().code, ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, ListKekVersionsIsExactPerTenant) {
  ASSERT_TRUE(service_->CreateKek({"acme", 5}));
  ASSERT_TRUE(service_->CreateKek({"acme", 2}));
  ASSERT_TRUE(service_->CreateKek({"acme2", 3}));
  ASSERT_TRUE(service_->CreateKek({"ac", 4}));
  ASSERT_TRUE(service_->CheckHealth());
  auto versions = service_->ListKekVersions("acme");
  ASSERT_TRUE(versions);
  EXPECT_EQ(*versions, (std::vector<std::uint32_t>{1, 2, 5}));
  EXPECT_EQ(*service_->ListKekVersions("ac"), (std::vector<std::uint32_t>{4}));
  EXPECT_TRUE(service_->ListKekVersions("nobody")->empty());
}

TEST_F(KeyServiceTest, DestroyedKekCannotUnwrap) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  const auto before = ObjectCount();
  ASSERT_TRUE(service_->DestroyKek(kAcme1));
  EXPECT_EQ(ObjectCount(), before - 1);
  EXPECT_EQ(service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad)).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->GenerateDataKey(kAcme1, {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->DestroyKek(kAcme1).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(service_->ListKekVersions("acme")->empty());
}

TEST_F(KeyServiceTest, DestroyInAnotherServiceInvalidatesCachedHandle) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));  // caches the handle
  ASSERT_TRUE(g);
  auto other = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(other);
  ASSERT_TRUE((*other)->DestroyKek(kAcme1));
  EXPECT_EQ(service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad)).error().code, ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, RewrapMovesKeyToNewKekAndAad) {
  ASSERT_TRUE(service_->CreateKek({"acme", 2}));
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  auto rewrapped = service_->Rewrap(kAcme1, g->wrapped, Bytes(kAad), {"acme", 2}, Bytes("new"));
  ASSERT_TRUE(rewrapped) << rewrapped.error().message;
  auto view = ParseWrappedKey(*rewrapped);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->kek_version, 2u);
  auto u = service_->Unwrap({"acme", 2}, *rewrapped, Bytes("new"));
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->Equals(g->plaintext.expose()));
  EXPECT_EQ(service_->Unwrap({"acme", 2}, *rewrapped, Bytes(kAad)).error().code,
            ErrorCode::kIntegrity);
  EXPECT_EQ(
      service_->Rewrap(kAcme1, g->wrapped, Bytes("wrong"), {"acme", 2}, Bytes("new")).error().code,
      ErrorCode::kIntegrity);
  EXPECT_EQ(
      service_->Rewrap(kAcme1, g->wrapped, Bytes(kAad), {"acme", 9}, Bytes("new")).error().code,
      ErrorCode::kNotFound);
}

TEST_F(KeyServiceTest, KekIsSensitiveNonExtractableTokenObject) {
  WithLease([](Lease& lease) {
    auto found = FindObjectsByLabel(lease, CKO_SECRET_KEY, "kmsd:acme:v1", 2);
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), 1u);
    CK_BBOOL token = 0, priv = 0, sensitive = 0, extractable = 1, encrypt = 0;
    CK_ULONG len = 0;
    CK_ATTRIBUTE attrs[] = {{CKA_TOKEN, &token, 1},         {CKA_PRIVATE, &priv, 1},
                            {CKA_SENSITIVE, &sensitive, 1}, {CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_ENCRYPT, &encrypt, 1},     {CKA_VALUE_LEN, &len, sizeof(len)}};
    ASSERT_EQ(lease.fn()->C_GetAttributeValue(lease.session(), found->front(), attrs, 6), CKR_OK);
    EXPECT_TRUE(token);
    EXPECT_TRUE(priv);
    EXPECT_TRUE(sensitive);
    EXPECT_FALSE(extractable);
    EXPECT_TRUE(encrypt);
    EXPECT_EQ(len, 32u);
    std::uint8_t value[32];
    CK_ATTRIBUTE value_attr{CKA_VALUE, value, sizeof(value)};
    EXPECT_EQ(lease.fn()->C_GetAttributeValue(lease.session(), found->front(), &value_attr, 1),
              CKR_ATTRIBUTE_SENSITIVE);
  });
}

TEST_F(KeyServiceTest, HealthCheckCreatesProbeKekOnce) {
  const auto before = ObjectCount();
  ASSERT_TRUE(service_->CheckHealth());
  EXPECT_EQ(ObjectCount(), before + 1);
  ASSERT_TRUE(service_->CheckHealth());
  EXPECT_EQ(ObjectCount(), before + 1);
}

TEST_F(KeyServiceTest, HealthCheckReportsUnavailableWhenTokenIsGone) {
  ASSERT_TRUE(service_->CheckHealth());
  // Deleting the token's folder makes it disappear for SoftHSM once it is
  // re-initialised; simulate a device that cannot come back by finalising
  // and pointing SoftHSM at an empty configuration.
  testing::TempDir empty;
  const std::string conf = empty.File("softhsm2.conf");
  std::filesystem::create_directory(empty.File("tokens"));
  {
    std::ofstream out(conf);
    out << "directories.tokendir = " << empty.File("tokens") << "\nlog.level = ERROR\n";
  }
  const std::string saved = std::getenv("SOFTHSM2_CONF");
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  WithLease([](Lease& lease) { lease.fn()->C_Finalize(nullptr); });
  auto st = service_->CheckHealth();
  ::setenv("SOFTHSM2_CONF", saved.c_str(), 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kHsmUnavailable);
}

PkeyPtr ParsePublicKey(const std::vector<std::uint8_t>& der) {
  const unsigned char* p = der.data();
  return PkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

bool VerifyRawSignature(EVP_PKEY* key, std::span<const std::uint8_t> message,
                        std::span<const std::uint8_t> raw_sig) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw_sig.data(), 32, nullptr),
                 BN_bin2bn(raw_sig.data() + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                                   message.data(), message.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

TEST_F(KeyServiceTest, AuditSignatureVerifiesWithExportedPublicKey) {
  const std::string message = "checkpoint seq=42 root=abcdef";
  auto sig = service_->SignAuditCheckpoint(Bytes(message));
  ASSERT_TRUE(sig) << sig.error().message;
  ASSERT_EQ(sig->size(), 64u);
  auto der = service_->AuditSignerPublicKeyDer();
  ASSERT_TRUE(der) << der.error().message;
  PkeyPtr key = ParsePublicKey(*der);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  EXPECT_TRUE(VerifyRawSignature(key.get(), Bytes(message), *sig));
  EXPECT_FALSE(VerifyRawSignature(key.get(), Bytes("checkpoint seq=43 root=abcdef"), *sig));
}

TEST_F(KeyServiceTest, AuditSignerIsCreatedOnceAndNotExtractable) {
  auto first = service_->AuditSignerPublicKeyDer();
  ASSERT_TRUE(first);
  const auto count = ObjectCount();
  auto other = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(other);
  auto second = (*other)->AuditSignerPublicKeyDer();
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(ObjectCount(), count);
  WithLease([](Lease& lease) {
    auto found = FindObjectsByLabel(lease, CKO_PRIVATE_KEY, "kmsd:audit-signer", 2);
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), 1u);
    CK_BBOOL sensitive = 0, extractable = 1;
    CK_ATTRIBUTE attrs[] = {{CKA_SENSITIVE, &sensitive, 1}, {CKA_EXTRACTABLE, &extractable, 1}};
    ASSERT_EQ(lease.fn()->C_GetAttributeValue(lease.session(), found->front(), attrs, 2), CKR_OK);
    EXPECT_TRUE(sensitive);
    EXPECT_FALSE(extractable);
  });
}

TEST_F(KeyServiceTest, TwoServicesOnOneModuleShareIt) {
  auto other = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(other);
  EXPECT_EQ(&(*other)->pool().module(), &service_->pool().module());
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  EXPECT_TRUE((*other)->Unwrap(kAcme1, g->wrapped, Bytes(kAad)));
}

TEST_F(KeyServiceTest, OpenFailsClearlyOnBadConfig) {
  auto config = token_->Config();
  config.token_label = "no-such-token";
  EXPECT_EQ(OpenPkcs11KeyService(config).error().code, ErrorCode::kNotFound);
  config = token_->Config();
  config.pin_file = token_->pin_file() + ".absent";
  EXPECT_EQ(OpenPkcs11KeyService(config).error().code, ErrorCode::kInvalidArgument);
  config = token_->Config();
  config.module_path = "/nonexistent/libpkcs11.so";
  EXPECT_EQ(OpenPkcs11KeyService(config).error().code, ErrorCode::kHsmUnavailable);
  config = token_->Config();
  config.pool_size = 0;
  EXPECT_EQ(OpenPkcs11KeyService(config).error().code, ErrorCode::kInvalidArgument);
  config = token_->Config();
  config.kek_label_prefix = "";
  EXPECT_EQ(OpenPkcs11KeyService(config).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace kmsd::hsm

namespace kmsd::hsm {
namespace {

TEST_F(KeyServiceTest, CapabilityProbeNamesEveryMissingMechanism) {
  // SoftHSM can hide mechanisms by configuration; it reads the file at
  // C_Initialize, so drop our service (finalising the module) first.
  // (SoftHSM 2.6.1 never matches the first entry of a "-" list, hence the
  // leading placeholder.)
  service_.reset();
  testing::TempDir dir;
  const std::string conf = dir.File("softhsm2.conf");
  const auto tokens =
      std::filesystem::path(testing::SoftHsmToken::ConfPath()).parent_path() / "tokens";
  {
    std::ofstream out(conf);
    out << "directories.tokendir = " << tokens.string() << "\nlog.level = ERROR\n"
        << "slots.mechanisms = -CKM_IGNORED,CKM_AES_GCM,CKM_ECDSA\n";
  }
  const std::string saved = testing::SoftHsmToken::ConfPath();
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  auto opened = OpenPkcs11KeyService(token_->Config());
  ::setenv("SOFTHSM2_CONF", saved.c_str(), 1);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kInvalidArgument);
  // The contract here is the operator-facing list of what is missing.
  EXPECT_NE(opened.error().message.find("CKM_AES_GCM"), std::string::npos);
  EXPECT_NE(opened.error().message.find("CKM_ECDSA"), std::string::npos);
  EXPECT_EQ(opened.error().message.find("CKM_AES_KEY_GEN"), std::string::npos);
  // With the full mechanism list the same token opens again.
  auto reopened = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(reopened) << reopened.error().message;
}

}  // namespace
}  // namespace kmsd::hsm

namespace kmsd::hsm {
namespace {

TEST_F(KeyServiceTest, TokenCreatedWhileAServiceIsOpenCanBeOpened) {
  // Other suites make a second token after the first service is up; SoftHSM
  // must find it without a restart.
  std::unique_ptr<testing::SoftHsmToken> second;
  KMSD_REQUIRE_SOFTHSM_TOKEN(second);
  auto other = OpenPkcs11KeyService(second->Config());
  ASSERT_TRUE(other) << other.error().message;
  ASSERT_TRUE((*other)->CreateKek({"globex", 1}));
  EXPECT_TRUE((*other)->GenerateDataKey({"globex", 1}, {}));
  EXPECT_TRUE(service_->GenerateDataKey(kAcme1, {}));
  EXPECT_TRUE((*other)->ListKekVersions("acme")->empty());
}

}  // namespace
}  // namespace kmsd::hsm
