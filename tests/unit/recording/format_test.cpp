// The pure pieces of the format: header encoding and parsing with every bad
// input, nonce layout, key derivation and chunk sealing/opening.
#include "cli/recording/format.h"

#include <gtest/gtest.h>

#include "tests/unit/recording/test_util.h"

namespace kmsd::recording {
namespace {

using testing::Bytes;
using testing::TestKey;

FileHeader SampleHeader() {
  FileHeader h;
  h.context_id = "ctx-1";
  h.chunk_size = 4096;
  for (std::size_t i = 0; i < h.salt.size(); ++i) h.salt[i] = static_cast<std::uint8_t>(i);
  return h;
}

TEST(RecordingHeader, EncodesTheDocumentedLayout) {
  auto bytes = EncodeHeader(SampleHeader());
  ASSERT_TRUE(bytes);
  Bytes expected = {'K', 'M', 'S', 'E', 'N', 'C', 0, 1, 5, 'c', 't', 'x', '-', '1', 0, 0, 0x10, 0};
  for (std::uint8_t i = 0; i < 32; ++i) expected.push_back(i);
  EXPECT_EQ(*bytes, expected);
  EXPECT_EQ(bytes->size(), kFixedHeaderSize + 5);
}

TEST(RecordingHeader, ParseInvertsEncode) {
  auto bytes = EncodeHeader(SampleHeader());
  ASSERT_TRUE(bytes);
  auto parsed = ParseHeader(*bytes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->context_id, "ctx-1");
  EXPECT_EQ(parsed->chunk_size, 4096u);
  EXPECT_EQ(parsed->salt, SampleHeader().salt);
  auto size = HeaderSizeFromPrefix(std::span(*bytes).first(9));
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, bytes->size());
}

TEST(RecordingHeader, AcceptsTheBounds) {
  FileHeader h = SampleHeader();
  h.context_id.assign(kMaxContextIdSize, '~');
  h.chunk_size = kMaxChunkSize;
  EXPECT_TRUE(ValidateHeader(h));
  h.context_id = "!";
  h.chunk_size = kMinChunkSize;
  EXPECT_TRUE(ValidateHeader(h));
}

TEST(RecordingHeader, RejectsOutOfBoundsFields) {
  const auto expect_invalid = [](FileHeader h) {
    auto encoded = EncodeHeader(h);
    ASSERT_FALSE(encoded);
    EXPECT_EQ(encoded.error().code, ErrorCode::kInvalidArgument);
  };
  FileHeader h = SampleHeader();
  h.context_id = "";
  expect_invalid(h);
  h.context_id.assign(kMaxContextIdSize + 1, 'a');
  expect_invalid(h);
  h.context_id = "has space";
  expect_invalid(h);
  h.context_id = std::string("nul\0", 4);
  expect_invalid(h);
  h.context_id = "\xc3\xa9";
  expect_invalid(h);
  h = SampleHeader();
  h.chunk_size = kMinChunkSize - 1;
  expect_invalid(h);
  h.chunk_size = kMaxChunkSize + 1;
  expect_invalid(h);
  h.chunk_size = 0;
  expect_invalid(h);
}

TEST(RecordingHeader, ParseRejectsMalformedBytes) {
  const Bytes good = *EncodeHeader(SampleHeader());
  const auto expect_invalid = [](const Bytes& bytes) {
    auto parsed = ParseHeader(bytes);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  };
  expect_invalid({});
  for (std::size_t n = 0; n < good.size(); ++n)
    expect_invalid(Bytes(good.begin(), good.begin() + n));
  Bytes longer = good;
  longer.push_back(0);
  expect_invalid(longer);
  Bytes bad = good;
  bad[0] ^= 1;  // magic
  expect_invalid(bad);
  bad = good;
  bad[6] = '!';  // the magic's NUL
  expect_invalid(bad);
  bad = good;
  bad[7] = 2;  // version
  expect_invalid(bad);
  bad = good;
  bad[8] = 0;  // context id length
  expect_invalid(bad);
  bad = good;
  bad[8] = 129;
  expect_invalid(bad);
  bad = good;
  bad[9] = ' ';  // context id byte
  expect_invalid(bad);
  bad = good;
  bad[14] = 0xff;  // chunk size 0xff001000 > 16 MiB
  expect_invalid(bad);
  bad = good;
  bad[16] = 0;  // chunk size 0
  expect_invalid(bad);
}

TEST(RecordingNonce, HoldsBigEndianIndexAndLastFlag) {
  const Nonce n = ChunkNonce(0x0102030405060708ull, true);
  const Nonce expected = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1};
  EXPECT_EQ(n, expected);
  EXPECT_EQ(ChunkNonce(0, false), Nonce{});
}

TEST(RecordingKdf, RejectsADataKeyThatIsNot32Bytes) {
  const Bytes header = *EncodeHeader(SampleHeader());
  for (std::size_t n : {0, 16, 31, 33, 64}) {
    auto key = DeriveFileKey(Secret(n), SampleHeader().salt, header);
    ASSERT_FALSE(key) << n;
    EXPECT_EQ(key.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(RecordingKdf, DependsOnKeySaltAndHeader) {
  const FileHeader h = SampleHeader();
  const Bytes header = *EncodeHeader(h);
  const Secret k1 = *DeriveFileKey(TestKey(1), h.salt, header);
  EXPECT_EQ(k1.size(), 32u);
  EXPECT_TRUE(k1.Equals(DeriveFileKey(TestKey(1), h.salt, header)->expose()));
  EXPECT_FALSE(k1.Equals(DeriveFileKey(TestKey(2), h.salt, header)->expose()));
  Salt other_salt = h.salt;
  other_salt[0] ^= 1;
  EXPECT_FALSE(k1.Equals(DeriveFileKey(TestKey(1), other_salt, header)->expose()));
  Bytes other_header = header;
  other_header[10] ^= 1;
  EXPECT_FALSE(k1.Equals(DeriveFileKey(TestKey(1), h.salt, other_header)->expose()));
  EXPECT_FALSE(k1.Equals(TestKey(1).expose()));
}

class RecordingChunkCipher : public ::testing::Test {
 protected:
  RecordingChunkCipher()
      : header_(*EncodeHeader(SampleHeader())),
        cipher_(*ChunkCipher::Create(*DeriveFileKey(TestKey(), SampleHeader().salt, header_),
                                     header_)) {}
  Bytes Sealed(std::uint64_t index, bool last, const Bytes& plaintext) {
    Bytes buf = plaintext;
    buf.resize(plaintext.size() + kTagSize);
    EXPECT_TRUE(cipher_.Seal(index, last, buf, plaintext.size()));
    return buf;
  }
  Bytes header_;
  ChunkCipher cipher_;
};

TEST_F(RecordingChunkCipher, OpenInvertsSeal) {
  const Bytes plaintext = testing::PatternBytes(1000);
  Bytes record = Sealed(3, false, plaintext);
  EXPECT_NE(Bytes(record.begin(), record.begin() + 1000), plaintext);
  ASSERT_TRUE(cipher_.Open(3, false, record));
  EXPECT_EQ(Bytes(record.begin(), record.begin() + 1000), plaintext);
}

TEST_F(RecordingChunkCipher, RefusesAnotherIndexOrLastFlagAndWipes) {
  const Bytes plaintext = testing::PatternBytes(100);
  for (auto [index, last] : {std::pair{4ull, false}, {3ull, true}, {2ull, false}}) {
    Bytes record = Sealed(3, false, plaintext);
    auto opened = cipher_.Open(index, last, record);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kIntegrity);
    EXPECT_EQ(record, Bytes(record.size(), 0)) << "unauthenticated bytes must be wiped";
  }
}

TEST_F(RecordingChunkCipher, RefusesAnotherHeaderAsAad) {
  Bytes other = header_;
  other.back() ^= 1;
  auto other_cipher =
      ChunkCipher::Create(*DeriveFileKey(TestKey(), SampleHeader().salt, header_), other);
  ASSERT_TRUE(other_cipher);
  Bytes record = Sealed(0, true, testing::PatternBytes(10));
  auto opened = other_cipher->Open(0, true, record);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kIntegrity);
}

TEST_F(RecordingChunkCipher, RefusesShortRecordsAndLateEmptyChunks) {
  for (std::size_t n : {0, 1, 15}) {
    Bytes record(n, 0);
    auto opened = cipher_.Open(0, true, record);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kIntegrity);
  }
  Bytes empty_late = Sealed(1, true, {});
  auto opened = cipher_.Open(1, true, empty_late);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kIntegrity);
  Bytes empty_first = Sealed(0, true, {});
  EXPECT_TRUE(cipher_.Open(0, true, empty_first));
}

}  // namespace
}  // namespace kmsd::recording
