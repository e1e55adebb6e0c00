// EncryptFile / DecryptFile on real files in a temp dir: round trips at the
// size edges, worker counts, atomic output, errors for bad options and I/O.
#include "cli/recording/file_crypto.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/unit/recording/test_util.h"

namespace kmsd::recording {
namespace {

using testing::Bytes;
using testing::ListDir;
using testing::ReadBytes;
using testing::TempDir;
using testing::TestKey;
using testing::WriteBytes;

constexpr std::uint32_t kChunk = 4096;

EncryptOptions Options(std::uint32_t chunk = kChunk, unsigned workers = 0) {
  EncryptOptions o;
  o.context_id = "0192f7a4-3c1e-7b2d-9f10-2a6c4e8d1b35";
  o.chunk_size = chunk;
  o.pipeline.workers = workers;
  return o;
}

std::size_t ExpectedEncryptedSize(std::size_t n, std::uint32_t chunk, std::size_t ctx_len) {
  const std::size_t chunks = n == 0 ? 1 : (n + chunk - 1) / chunk;
  return kFixedHeaderSize + ctx_len + n + chunks * kTagSize;
}

// workers 0 here means the sequential mode (no threads).
class RecordingRoundTrip
    : public ::testing::TestWithParam<std::tuple<std::size_t /*size*/, unsigned /*workers*/>> {};

TEST_P(RecordingRoundTrip, DecryptGivesBackThePlaintext) {
  const auto [size, workers] = GetParam();
  TempDir dir;
  const Bytes plaintext = testing::PatternBytes(size);
  WriteBytes(dir / "in", plaintext);
  EncryptOptions options = Options(kChunk, workers);
  options.pipeline.sequential = workers == 0;
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(), options));
  const Bytes encrypted = ReadBytes(dir / "enc");
  EXPECT_EQ(encrypted.size(), ExpectedEncryptedSize(size, kChunk, options.context_id.size()));
  ASSERT_TRUE(DecryptFile(dir / "enc", dir / "out", TestKey(), options.pipeline));
  EXPECT_EQ(ReadBytes(dir / "out"), plaintext);
  EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"enc", "in", "out"}));
}

INSTANTIATE_TEST_SUITE_P(SizesAndWorkers, RecordingRoundTrip,
                         ::testing::Combine(::testing::Values(0, 1, kChunk - 1, kChunk, kChunk + 1,
                                                              2 * kChunk, 7 * kChunk + 123,
                                                              64 * kChunk),
                                            ::testing::Values(0u, 1u, 2u, 4u)));

TEST(RecordingFile, DefaultChunkSizeRoundTrip) {
  TempDir dir;
  const Bytes plaintext = testing::PatternBytes(3 * kDefaultChunkSize + 5);
  WriteBytes(dir / "in", plaintext);
  EncryptOptions options = Options(kDefaultChunkSize);
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(), options));
  auto header = ReadHeader(dir / "enc");
  ASSERT_TRUE(header);
  EXPECT_EQ(header->chunk_size, kDefaultChunkSize);
  ASSERT_TRUE(DecryptFile(dir / "enc", dir / "out", TestKey()));
  EXPECT_EQ(ReadBytes(dir / "out"), plaintext);
}

TEST(RecordingFile, EachEncryptionUsesAFreshSalt) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(100));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "a", TestKey(), Options()));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "b", TestKey(), Options()));
  EXPECT_NE(ReadHeader(dir / "a")->salt, ReadHeader(dir / "b")->salt);
  EXPECT_NE(ReadBytes(dir / "a"), ReadBytes(dir / "b"));
}

TEST(RecordingFile, ReadContextIdReturnsTheHeadersId) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(10));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(), Options()));
  auto id = ReadContextId(dir / "enc");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, Options().context_id);

  auto not_ours = ReadContextId(dir / "in");
  ASSERT_FALSE(not_ours);
  EXPECT_EQ(not_ours.error().code, ErrorCode::kInvalidArgument);
  auto missing = ReadContextId(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kInternal);
}

TEST(RecordingFile, OutputIsPrivateToTheOwner) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(10));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(), Options()));
  ASSERT_TRUE(DecryptFile(dir / "enc", dir / "out", TestKey()));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "out").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(RecordingFile, WrongKeyIsRefusedAndLeavesNothing) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(3 * kChunk));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(1), Options()));
  auto result = DecryptFile(dir / "enc", dir / "out", TestKey(2));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"enc", "in"}));
}

TEST(RecordingFile, FailedDecryptionKeepsAnExistingOutputUnchanged) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(3 * kChunk));
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(1), Options()));
  const Bytes previous = {'o', 'l', 'd'};
  WriteBytes(dir / "out", previous);
  ASSERT_FALSE(DecryptFile(dir / "enc", dir / "out", TestKey(2)));
  EXPECT_EQ(ReadBytes(dir / "out"), previous);
  EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"enc", "in", "out"}));
}

TEST(RecordingFile, RejectsBadKeysAndOptionsBeforeWriting) {
  TempDir dir;
  WriteBytes(dir / "in", testing::PatternBytes(10));
  const auto expect_invalid = [&](const Status& s) {
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"in"}));
  };
  expect_invalid(EncryptFile(dir / "in", dir / "enc", Secret(16), Options()));
  expect_invalid(EncryptFile(dir / "in", dir / "enc", TestKey(), Options(kMinChunkSize - 1)));
  expect_invalid(EncryptFile(dir / "in", dir / "enc", TestKey(), Options(kMaxChunkSize + 1)));
  EncryptOptions no_id = Options();
  no_id.context_id.clear();
  expect_invalid(EncryptFile(dir / "in", dir / "enc", TestKey(), no_id));
  expect_invalid(DecryptFile(dir / "in", dir / "out", Secret(31)));
  expect_invalid(DecryptFile(dir / "in", dir / "out", TestKey()));  // not our format
}

TEST(RecordingFile, IoErrorsNameThePath) {
  TempDir dir;
  const auto missing = dir / "missing-input";
  auto enc = EncryptFile(missing, dir / "enc", TestKey(), Options());
  ASSERT_FALSE(enc);
  EXPECT_EQ(enc.error().code, ErrorCode::kInternal);
  EXPECT_NE(enc.error().message.find(missing.string()), std::string::npos);
  auto dec = DecryptFile(missing, dir / "out", TestKey());
  ASSERT_FALSE(dec);
  EXPECT_EQ(dec.error().code, ErrorCode::kInternal);

  WriteBytes(dir / "in", testing::PatternBytes(10));
  auto no_dir = EncryptFile(dir / "in", dir / "no-such-dir" / "enc", TestKey(), Options());
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().code, ErrorCode::kInternal);
}

TEST(RecordingFile, ReadErrorsAreReportedAndLeaveNothing) {
  // A directory opens for reading but read() fails with EISDIR: the reader
  // thread's error must reach the caller, in both modes.
  TempDir dir;
  std::filesystem::create_directory(dir / "a-directory");
  for (bool sequential : {false, true}) {
    EncryptOptions options = Options();
    options.pipeline.sequential = sequential;
    auto result = EncryptFile(dir / "a-directory", dir / "enc", TestKey(), options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kInternal);
    EXPECT_NE(result.error().message.find((dir / "a-directory").string()), std::string::npos);
    EXPECT_EQ(ListDir(dir.path()), (std::set<std::string>{"a-directory"}));
  }
}

TEST(RecordingFile, ReportsProgressUpToTheInputSize) {
  TempDir dir;
  const std::size_t size = 10 * kChunk + 7;
  WriteBytes(dir / "in", testing::PatternBytes(size));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  EncryptOptions options = Options();
  options.pipeline.progress = [&](std::uint64_t done, std::uint64_t total) {
    calls.emplace_back(done, total);
  };
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "enc", TestKey(), options));
  ASSERT_EQ(calls.size(), 11u);
  for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
  EXPECT_EQ(calls.back(), std::make_pair(std::uint64_t{size}, std::uint64_t{size}));

  calls.clear();
  ASSERT_TRUE(
      DecryptFile(dir / "enc", dir / "out", TestKey(), {2, false, options.pipeline.progress}));
  ASSERT_EQ(calls.size(), 11u);
  const std::uint64_t enc_size = ReadBytes(dir / "enc").size();
  EXPECT_EQ(calls.back(), std::make_pair(enc_size, enc_size));
}

TEST(RecordingFile, InFlightChunksStayWithinTheBufferBudget) {
  for (unsigned workers : {1u, 2u, 8u, 16u}) {
    for (std::uint32_t chunk : {kMinChunkSize, kDefaultChunkSize, kMaxChunkSize}) {
      const unsigned slots = InFlightChunks(chunk, workers);
      EXPECT_GE(slots, 3u);
      EXPECT_LE(std::uint64_t{slots} * (chunk + kTagSize), 48u * 1024 * 1024 + 3 * kTagSize);
    }
  }
}

}  // namespace
}  // namespace kmsd::recording
