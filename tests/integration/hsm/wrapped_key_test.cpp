// Pure-code tests of hsm/: the wrapped-key format, label rules, CK_RV mapping
// and the PIN file reader. No token (label unit).
#include "hsm/wrapped_key.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "hsm/ck_error.h"
#include "hsm/kek_label.h"
#include "hsm/pin_file.h"
#include "tests/support/temp_dir.h"

namespace kmsd::hsm {
namespace {

std::vector<std::uint8_t> ValidBlob(std::uint32_t version = 7) {
  std::vector<std::uint8_t> iv(kGcmIvSize);
  std::iota(iv.begin(), iv.end(), 1);
  std::vector<std::uint8_t> sealed(kDataKeySize + kGcmTagSize);
  std::iota(sealed.begin(), sealed.end(), 100);
  return SerializeWrappedKey(version, iv, sealed).value();
}

ErrorCode ParseCode(std::span<const std::uint8_t> blob) {
  auto parsed = ParseWrappedKey(blob);
  return parsed ? ErrorCode::kInternal : parsed.error().code;  // kInternal = "parsed"
}

TEST(WrappedKeyFormat, SerializeThenParseRoundTrips) {
  const auto blob = ValidBlob(0x01020304);
  ASSERT_EQ(blob.size(), kWrappedKeySize);
  EXPECT_EQ(blob[0], kWrappedKeyFormatV1);
  EXPECT_EQ(blob[1], 0x01);
  EXPECT_EQ(blob[4], 0x04);
  EXPECT_EQ(blob[5], kMechanismAes256Gcm);
  auto view = ParseWrappedKey(blob);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->kek_version, 0x01020304u);
  EXPECT_EQ(view->iv.size(), kGcmIvSize);
  EXPECT_EQ(view->iv[0], 1);
  EXPECT_EQ(view->ciphertext.size(), kDataKeySize);
  EXPECT_EQ(view->ciphertext[0], 100);
  EXPECT_EQ(view->tag.size(), kGcmTagSize);
  EXPECT_EQ(view->tag[0], 100 + kDataKeySize);
  const auto header = WrappedKeyHeader(0x01020304);
  EXPECT_TRUE(std::equal(header.begin(), header.end(), view->header.begin()));
}

TEST(WrappedKeyFormat, EmptyIsInvalid) { EXPECT_EQ(ParseCode({}), ErrorCode::kInvalidArgument); }

TEST(WrappedKeyFormat, EveryTruncationIsInvalid) {
  const auto blob = ValidBlob();
  for (std::size_t n = 0; n < blob.size(); ++n) {
    EXPECT_EQ(ParseCode(std::span(blob).first(n)), ErrorCode::kInvalidArgument) << "length " << n;
  }
}

TEST(WrappedKeyFormat, TrailingAndOversizedAreInvalid) {
  auto blob = ValidBlob();
  blob.push_back(0);
  EXPECT_EQ(ParseCode(blob), ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> huge(1 << 20, 0x01);
  EXPECT_EQ(ParseCode(huge), ErrorCode::kInvalidArgument);
}

TEST(WrappedKeyFormat, UnknownVersionMechanismAndLengthsAreInvalid) {
  for (std::size_t index : {0u, 5u, 6u, 7u}) {
    for (int value = 0; value < 256; ++value) {
      auto blob = ValidBlob();
      if (blob[index] == value) continue;
      blob[index] = static_cast<std::uint8_t>(value);
      EXPECT_EQ(ParseCode(blob), ErrorCode::kInvalidArgument) << "byte " << index << "=" << value;
    }
  }
}

TEST(WrappedKeyFormat, KekVersionZeroIsInvalid) {
  auto blob = ValidBlob(1);
  blob[4] = 0;
  EXPECT_EQ(ParseCode(blob), ErrorCode::kInvalidArgument);
}

TEST(WrappedKeyFormat, FlippedBitsInPayloadStillParse) {
  // The parser cannot see payload damage; the token's tag check does (hsm
  // integration tests). Here: such blobs parse and keep their fields.
  const auto blob = ValidBlob();
  for (std::size_t i = kWrappedKeyHeaderSize; i < blob.size(); ++i) {
    auto copy = blob;
    copy[i] ^= 0x80;
    EXPECT_TRUE(ParseWrappedKey(copy)) << "byte " << i;
  }
}

TEST(WrappedKeyFormat, SerializeRejectsWrongSizes) {
  std::vector<std::uint8_t> iv(kGcmIvSize), sealed(kDataKeySize + kGcmTagSize);
  EXPECT_FALSE(SerializeWrappedKey(0, iv, sealed));
  EXPECT_FALSE(SerializeWrappedKey(1, std::span(iv).first(11), sealed));
  EXPECT_FALSE(SerializeWrappedKey(1, iv, std::span(sealed).first(47)));
  EXPECT_EQ(SerializeWrappedKey(1, iv, std::span(sealed).first(47)).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(WrappedKeyFormat, EffectiveAadIsHeaderThenCallerAad) {
  const auto header = WrappedKeyHeader(3);
  const std::vector<std::uint8_t> aad = {9, 8, 7};
  const auto effective = EffectiveAad(header, aad);
  ASSERT_EQ(effective.size(), kWrappedKeyHeaderSize + 3);
  EXPECT_TRUE(std::equal(header.begin(), header.end(), effective.begin()));
  EXPECT_EQ(effective.back(), 7);
}

TEST(KekLabels, ValidTenantsAndLabels) {
  EXPECT_TRUE(ValidateTenant("acme"));
  EXPECT_TRUE(ValidateTenant("a.b_c-D9"));
  EXPECT_TRUE(ValidateTenant(std::string(64, 'x')));
  EXPECT_EQ(KekLabel("kmsd:", {"acme", 3}), "kmsd:acme:v3");
  EXPECT_EQ(HealthKekLabel("kmsd:"), "kmsd:_health:v1");
  EXPECT_EQ(AuditSignerLabel("kmsd:"), "kmsd:audit-signer");
}

TEST(KekLabels, InvalidTenantsAreRefused) {
  for (std::string bad :
       {std::string(), std::string(65, 'x'), std::string("a:b"), std::string("a b"),
        std::string("_health"), std::string("é"), std::string("a\0b", 3), std::string("a/b")}) {
    auto st = ValidateTenant(bad);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(ValidateKekId({"acme", 0}));
  EXPECT_TRUE(ValidateKekId({"acme", 1}));
}

TEST(KekLabels, ParseVersionOnlyForExactTenant) {
  EXPECT_EQ(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v12"), 12u);
  EXPECT_EQ(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v4294967295"), 4294967295u);
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v4294967296"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme2:v1"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v01"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "kmsd:acme:v1x"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "acme", "other:acme:v1"));
  EXPECT_FALSE(ParseKekLabelVersion("kmsd:", "ac", "kmsd:acme:v1"));
}

TEST(CkErrorMapping, ClassesAndCodes) {
  EXPECT_EQ(ClassifyRv(CKR_SESSION_HANDLE_INVALID), RvClass::kSession);
  EXPECT_EQ(ClassifyRv(CKR_SESSION_CLOSED), RvClass::kSession);
  EXPECT_EQ(ClassifyRv(CKR_USER_NOT_LOGGED_IN), RvClass::kSession);
  for (CK_RV rv : {CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR,
                   CKR_CRYPTOKI_NOT_INITIALIZED, CKR_GENERAL_ERROR}) {
    EXPECT_EQ(ClassifyRv(rv), RvClass::kDevice) << RvName(rv);
    EXPECT_EQ(MapRv(rv), ErrorCode::kHsmUnavailable) << RvName(rv);
  }
  EXPECT_EQ(ClassifyRv(CKR_PIN_INCORRECT), RvClass::kPinRefused);
  EXPECT_EQ(ClassifyRv(CKR_PIN_LOCKED), RvClass::kPinRefused);
  EXPECT_EQ(MapRv(CKR_ENCRYPTED_DATA_INVALID), ErrorCode::kIntegrity);
  EXPECT_EQ(MapRv(CKR_KEY_HANDLE_INVALID), ErrorCode::kNotFound);
  EXPECT_EQ(MapRv(CKR_MECHANISM_INVALID), ErrorCode::kInternal);
  EXPECT_EQ(RvName(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
  EXPECT_EQ(RvName(0x12345), "CKR_0x12345");
  EXPECT_EQ(RvError(CKR_DEVICE_ERROR, "C_Encrypt").code, ErrorCode::kHsmUnavailable);
}

// A PIN file as an operator makes one: 0600 (kmsd refuses one open to others).
void WritePin(const std::string& path, const std::string& text) {
  { std::ofstream(path) << text; }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(PinFile, StripsOneTrailingNewline) {
  testing::TempDir dir;
  const std::string path = dir.File("pin");
  WritePin(path, "1234\n");
  auto pin = ReadPinFile(path);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->expose_chars(), "1234");
  WritePin(path, "12 34\r\n");
  EXPECT_EQ(ReadPinFile(path)->expose_chars(), "12 34");
  WritePin(path, "1234");
  EXPECT_EQ(ReadPinFile(path)->expose_chars(), "1234");
}

TEST(PinFile, MissingEmptyAndOversizedAreInvalid) {
  testing::TempDir dir;
  EXPECT_EQ(ReadPinFile(dir.File("absent")).error().code, ErrorCode::kInvalidArgument);
  const std::string path = dir.File("pin");
  WritePin(path, "\n");
  EXPECT_EQ(ReadPinFile(path).error().code, ErrorCode::kInvalidArgument);
  WritePin(path, std::string(kMaxPinSize + 1, '1'));
  EXPECT_EQ(ReadPinFile(path).error().code, ErrorCode::kInvalidArgument);
  WritePin(path, std::string(kMaxPinSize, '1'));
  EXPECT_TRUE(ReadPinFile(path));
}

TEST(PinFile, OpenToOthersIsRefusedAndGroupIsTheOperatorsChoice) {
  testing::TempDir dir;
  const std::string path = dir.File("pin");
  WritePin(path, "1234");
  using std::filesystem::perms;
  for (perms others : {perms::others_read, perms::others_write, perms::others_exec}) {
    std::filesystem::permissions(path, perms::owner_read | perms::owner_write | others);
    auto pin = ReadPinFile(path);
    ASSERT_FALSE(pin);
    EXPECT_EQ(pin.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(pin.error().message.find("readable or writable by others"), std::string::npos)
        << pin.error().message;
  }
  std::filesystem::permissions(path, perms::owner_read | perms::group_read);  // root:kmsd 0440
  EXPECT_TRUE(ReadPinFile(path));
}

TEST(PinFile, ErrorMessageNamesPathNotContent) {
  testing::TempDir dir;
  const std::string path = dir.File("pin");
  WritePin(path, std::string(kMaxPinSize + 5, 'Q'));
  auto pin = ReadPinFile(path);
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().message.find("QQQQ"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::hsm
