// A 2 GiB recording (sparse input) is encrypted and decrypted with peak
// memory under 64 MiB: each step runs in a fresh child process and its peak
// resident set (ru_maxrss from wait4) is asserted. Labelled `slow`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "cli/recording/file_crypto.h"
#include "tests/unit/recording/test_util.h"

namespace kmsd::recording {
namespace {

using testing::TempDir;
using testing::TestKey;

constexpr std::uint64_t kSize = 2ull * 1024 * 1024 * 1024;
constexpr long kMaxRssKiB = 64 * 1024;

struct ChildRun {
  int exit_code = -1;
  long max_rss_kib = 0;
  double seconds = 0;
};

// Runs `step` in a forked child; the child's ru_maxrss covers only its own life.
ChildRun RunInChild(const std::function<bool()>& step) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(step() ? 0 : 1);
  ChildRun run;
  if (pid < 0) return run;
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid) return run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.max_rss_kib = usage.ru_maxrss;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

bool ReportFailure(const Status& status) {
  if (!status) std::fprintf(stderr, "child failed: %s\n", status.error().message.c_str());
  return static_cast<bool>(status);
}

TEST(RecordingLargeFile, TwoGiBRoundTripInConstantMemory) {
  TempDir dir;
  const auto in = dir / "in.raw";
  {
    const int fd = ::open(in.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kSize)), 0);
    ::close(fd);
  }
  EncryptOptions options;
  options.context_id = "large-file";
  const ChildRun enc =
      RunInChild([&] { return ReportFailure(EncryptFile(in, dir / "enc", TestKey(), options)); });
  ASSERT_EQ(enc.exit_code, 0);
  std::filesystem::remove(in);  // keep disk use at two files of 2 GiB at most
  const ChildRun dec =
      RunInChild([&] { return ReportFailure(DecryptFile(dir / "enc", dir / "out", TestKey())); });
  ASSERT_EQ(dec.exit_code, 0);

  std::printf("2 GiB encrypt: %.1f s, peak RSS %ld KiB; decrypt: %.1f s, peak RSS %ld KiB\n",
              enc.seconds, enc.max_rss_kib, dec.seconds, dec.max_rss_kib);
  RecordProperty("encrypt_max_rss_kib", static_cast<int>(enc.max_rss_kib));
  RecordProperty("decrypt_max_rss_kib", static_cast<int>(dec.max_rss_kib));
  EXPECT_LT(enc.max_rss_kib, kMaxRssKiB);
  EXPECT_LT(dec.max_rss_kib, kMaxRssKiB);

  const std::uint64_t chunks = kSize / kDefaultChunkSize;
  EXPECT_EQ(std::filesystem::file_size(dir / "enc"),
            kFixedHeaderSize + options.context_id.size() + kSize + chunks * kTagSize);
  ASSERT_EQ(std::filesystem::file_size(dir / "out"), kSize);
  // The sparse input reads as zeros: so must every decrypted byte.
  const int fd = ::open((dir / "out").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<std::uint8_t> buf(1 << 20);
  const std::vector<std::uint8_t> zeros(buf.size(), 0);
  std::uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) {
    ASSERT_EQ(std::memcmp(buf.data(), zeros.data(), static_cast<std::size_t>(n)), 0)
        << "at offset " << total;
    total += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  EXPECT_EQ(total, kSize);
}

}  // namespace
}  // namespace kmsd::recording
