// The checked-in vectors (tests/unit/recording/vectors/, made by an
// independent Python encoder): encryption with the injected salt reproduces
// each expected file byte-for-byte, and decryption gives the plaintext back.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cli/recording/file_crypto.h"
#include "tests/unit/recording/test_util.h"

namespace kmsd::recording {
namespace {

using testing::Bytes;
using testing::ReadBytes;
using testing::TempDir;

const std::filesystem::path kVectorDir =
    std::filesystem::path(KMSD_SOURCE_DIR) / "tests/unit/recording/vectors";

using Vector = std::map<std::string, std::string>;

std::vector<Vector> LoadVectors() {
  std::ifstream in(kVectorDir / "vectors.txt");
  std::vector<Vector> vectors(1);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!vectors.back().empty()) vectors.emplace_back();
      continue;
    }
    if (line[0] == '#') continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    vectors.back()[line.substr(0, eq)] = line.substr(eq + 3);
  }
  if (vectors.back().empty()) vectors.pop_back();
  return vectors;
}

Salt SaltFromHex(const std::string& hex) {
  Salt salt{};
  for (std::size_t i = 0; i < salt.size(); ++i) {
    salt[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  return salt;
}

TEST(RecordingVectors, AllVectorsArePresent) {
  const auto vectors = LoadVectors();
  ASSERT_EQ(vectors.size(), 3u);
  for (const auto& v : vectors) {
    for (const char* field :
         {"name", "plaintext", "context_id", "chunk_size", "data_key", "salt", "expected"}) {
      EXPECT_TRUE(v.count(field)) << field;
    }
    EXPECT_TRUE(std::filesystem::exists(kVectorDir / v.at("plaintext")));
    EXPECT_TRUE(std::filesystem::exists(kVectorDir / v.at("expected")));
  }
}

TEST(RecordingVectors, EncryptionReproducesEachExpectedFile) {
  for (const auto& v : LoadVectors()) {
    SCOPED_TRACE(v.at("name"));
    TempDir dir;
    EncryptOptions options;
    options.context_id = v.at("context_id");
    options.chunk_size = static_cast<std::uint32_t>(std::stoul(v.at("chunk_size")));
    options.salt_for_test = SaltFromHex(v.at("salt"));
    for (unsigned workers : {0u, 1u, 3u}) {  // 0: sequential mode
      options.pipeline.workers = workers;
      options.pipeline.sequential = workers == 0;
      ASSERT_TRUE(EncryptFile(kVectorDir / v.at("plaintext"), dir / "enc",
                              testing::KeyFromHex(v.at("data_key")), options));
      EXPECT_EQ(ReadBytes(dir / "enc"), ReadBytes(kVectorDir / v.at("expected")));
    }
  }
}

TEST(RecordingVectors, DecryptionGivesThePlaintext) {
  for (const auto& v : LoadVectors()) {
    SCOPED_TRACE(v.at("name"));
    TempDir dir;
    const auto expected = kVectorDir / v.at("expected");
    auto id = ReadContextId(expected);
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, v.at("context_id"));
    ASSERT_TRUE(DecryptFile(expected, dir / "out", testing::KeyFromHex(v.at("data_key"))));
    EXPECT_EQ(ReadBytes(dir / "out"), ReadBytes(kVectorDir / v.at("plaintext")));
  }
}

TEST(RecordingVectors, PlaintextIsTheRealRecording) {
  // bell.oga is an Ogg file from sound-theme-freedesktop, not made-up bytes.
  const Bytes bell = ReadBytes(kVectorDir / "bell.oga");
  ASSERT_EQ(bell.size(), 8495u);
  EXPECT_EQ(std::string(bell.begin(), bell.begin() + 4), "OggS");
}

}  // namespace
}  // namespace kmsd::recording
