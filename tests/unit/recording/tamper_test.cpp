// Every tampering case of issue 8 is refused, and no output file is left:
// header bits, chunk and tag bits, swapped / duplicated / dropped chunks,
// truncation at every byte and at chunk boundaries, appended bytes, and
// splicing chunks or headers between files under the same key.
#include <gtest/gtest.h>

#include "cli/recording/file_crypto.h"
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
constexpr std::size_t kRecord = kChunk + kTagSize;

// An encrypted multi-chunk file split into header and chunk records.
class RecordingTamper : public ::testing::Test {
 protected:
  void Encrypt(std::size_t plaintext_size, const std::string& name = "enc") {
    WriteBytes(dir_ / "in", testing::PatternBytes(plaintext_size));
    EncryptOptions options;
    options.context_id = "ctx-tamper";
    options.chunk_size = kChunk;
    options.pipeline.workers = 2;
    ASSERT_TRUE(EncryptFile(dir_ / "in", dir_ / name, TestKey(), options));
    std::filesystem::remove(dir_ / "in");
  }
  void SetUp() override {
    Encrypt(3 * kChunk + 100);  // chunks of 4096, 4096, 4096, 100 bytes
    file_ = ReadBytes(dir_ / "enc");
    header_size_ = kFixedHeaderSize + std::string("ctx-tamper").size();
    for (std::size_t off = header_size_; off < file_.size(); off += kRecord) {
      const std::size_t end = std::min(off + kRecord, file_.size());
      chunks_.emplace_back(file_.begin() + off, file_.begin() + end);
    }
    ASSERT_EQ(chunks_.size(), 4u);
  }

  Bytes Header() const { return Bytes(file_.begin(), file_.begin() + header_size_); }
  static Bytes Join(const Bytes& header, const std::vector<Bytes>& chunks) {
    Bytes out = header;
    for (const auto& c : chunks) out.insert(out.end(), c.begin(), c.end());
    return out;
  }

  // Decrypts `bytes`, threaded and sequential, and returns the error code;
  // asserts that both modes agree and that no output file (and no temporary
  // file) remains.
  ErrorCode Refused(const Bytes& bytes, unsigned workers = 2) {
    // Remove first: ext4 flushes a file truncated in place on close, which
    // would make the every-byte tests wait on the disk thousands of times.
    std::filesystem::remove(dir_ / "bad");
    WriteBytes(dir_ / "bad", bytes);
    auto threaded = DecryptFile(dir_ / "bad", dir_ / "out", TestKey(), {workers, false, {}});
    auto sequential = DecryptFile(dir_ / "bad", dir_ / "out", TestKey(), {1, true, {}});
    EXPECT_FALSE(threaded) << "tampered file was accepted";
    EXPECT_FALSE(sequential) << "tampered file was accepted (sequential)";
    EXPECT_EQ(ListDir(dir_.path()), (std::set<std::string>{"bad", "enc"}));
    if (!threaded && !sequential) {
      EXPECT_EQ(threaded.error().code, sequential.error().code);
      return threaded.error().code;
    }
    return ErrorCode::kInternal;
  }

  TempDir dir_;
  Bytes file_;
  std::size_t header_size_ = 0;
  std::vector<Bytes> chunks_;
};

TEST_F(RecordingTamper, UntouchedFileDecrypts) {
  WriteBytes(dir_ / "bad", Join(Header(), chunks_));
  EXPECT_TRUE(DecryptFile(dir_ / "bad", dir_ / "out", TestKey()));
}

TEST_F(RecordingTamper, EveryHeaderBitFlipIsRefused) {
  for (std::size_t bit = 0; bit < header_size_ * 8; ++bit) {
    Bytes bad = file_;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const ErrorCode code = Refused(bad, 1);
    // Magic, version, lengths and bounds are parse errors; an in-bounds
    // change (context id, chunk size, salt) fails authentication.
    EXPECT_TRUE(code == ErrorCode::kInvalidArgument || code == ErrorCode::kIntegrity)
        << "bit " << bit;
    if (bit / 8 >= 9 + std::string("ctx-tamper").size() + 4) {
      EXPECT_EQ(code, ErrorCode::kIntegrity) << "salt bit " << bit;
    }
  }
}

TEST_F(RecordingTamper, FlippedBitInEachChunkOrTagIsRefused) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    const std::size_t ct_len = chunks_[i].size() - kTagSize;
    for (std::size_t pos :
         {std::size_t{0}, ct_len / 2, ct_len - 1, ct_len, chunks_[i].size() - 1}) {
      std::vector<Bytes> chunks = chunks_;
      chunks[i][pos] ^= 0x80;
      EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity)
          << "chunk " << i << " byte " << pos;
    }
  }
}

TEST_F(RecordingTamper, SwappedChunksAreRefused) {
  for (auto [a, b] : {std::pair{0, 1}, {1, 2}, {0, 2}, {2, 3}}) {
    std::vector<Bytes> chunks = chunks_;
    std::swap(chunks[a], chunks[b]);
    EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity) << a << "<->" << b;
  }
}

TEST_F(RecordingTamper, DuplicatedChunkIsRefused) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    std::vector<Bytes> chunks = chunks_;
    chunks.insert(chunks.begin() + static_cast<std::ptrdiff_t>(i), chunks_[i]);
    EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity) << "chunk " << i;
  }
}

TEST_F(RecordingTamper, DroppedChunkIsRefused) {
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    std::vector<Bytes> chunks = chunks_;
    chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(i));
    EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity) << "chunk " << i;
  }
}

TEST_F(RecordingTamper, TruncationAtEveryByteIsRefused) {
  Encrypt(2 * kChunk + 100, "enc");  // three chunks: 4096, 4096, 100 bytes
  const Bytes file = ReadBytes(dir_ / "enc");
  for (std::size_t len = 0; len < file.size(); ++len) {
    const ErrorCode code = Refused(Bytes(file.begin(), file.begin() + len), 1);
    if (len < header_size_) {
      EXPECT_EQ(code, ErrorCode::kInvalidArgument) << "length " << len;
    } else {
      EXPECT_EQ(code, ErrorCode::kIntegrity) << "length " << len;
    }
  }
}

TEST_F(RecordingTamper, TruncationAtChunkBoundariesIsRefused) {
  for (std::size_t keep = 0; keep < chunks_.size(); ++keep) {
    std::vector<Bytes> chunks(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity) << keep << " chunks kept";
  }
}

TEST_F(RecordingTamper, DroppingAFullLastChunkIsRefused) {
  // Plaintext of exactly 3 chunks: every record is full, so a file cut after
  // chunk 1 looks well-formed; only the last-chunk flag in the nonce tells.
  Encrypt(3 * kChunk, "enc");
  const Bytes full = ReadBytes(dir_ / "enc");
  ASSERT_EQ(full.size(), header_size_ + 3 * kRecord);
  for (std::size_t keep : {1u, 2u}) {
    EXPECT_EQ(Refused(Bytes(full.begin(), full.begin() + header_size_ + keep * kRecord)),
              ErrorCode::kIntegrity);
  }
  Bytes plus = full;
  plus.push_back(0);
  EXPECT_EQ(Refused(plus), ErrorCode::kIntegrity);
}

TEST_F(RecordingTamper, AppendedBytesAreRefused) {
  for (std::size_t extra : {1u, 15u, 16u, 17u, 4096u, 4112u, 5000u}) {
    Bytes bad = file_;
    bad.resize(file_.size() + extra, 0);
    EXPECT_EQ(Refused(bad), ErrorCode::kIntegrity) << extra << " bytes";
  }
  // A copy of the real last chunk appended again.
  std::vector<Bytes> chunks = chunks_;
  chunks.push_back(chunks_.back());
  EXPECT_EQ(Refused(Join(Header(), chunks)), ErrorCode::kIntegrity);
}

TEST_F(RecordingTamper, ChunksAndHeadersDoNotMoveBetweenFiles) {
  // A second file under the same data key and context id: fresh salt, so its
  // chunks and header must not combine with ours.
  const Bytes ours = file_;
  Encrypt(3 * kChunk + 100, "enc");
  const Bytes theirs = ReadBytes(dir_ / "enc");
  ASSERT_EQ(theirs.size(), ours.size());
  Bytes mixed = ours;
  std::copy(theirs.begin() + static_cast<std::ptrdiff_t>(header_size_ + kRecord),
            theirs.begin() + static_cast<std::ptrdiff_t>(header_size_ + 2 * kRecord),
            mixed.begin() + static_cast<std::ptrdiff_t>(header_size_ + kRecord));
  EXPECT_EQ(Refused(mixed), ErrorCode::kIntegrity);
  Bytes header_swapped = ours;
  std::copy(theirs.begin(), theirs.begin() + static_cast<std::ptrdiff_t>(header_size_),
            header_swapped.begin());
  EXPECT_EQ(Refused(header_swapped), ErrorCode::kIntegrity);
}

}  // namespace
}  // namespace kmsd::recording
