// TerminalProgress draws on stderr only when it is a terminal: checked with
// stderr redirected to a file and to a pseudo-terminal.
#include "cli/recording/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "tests/unit/recording/test_util.h"

namespace kmsd::recording {
namespace {

// Points fd 2 at `fd` for the scope, then restores it.
class StderrRedirect {
 public:
  explicit StderrRedirect(int fd) : saved_(::dup(STDERR_FILENO)) {
    std::fflush(stderr);
    ::dup2(fd, STDERR_FILENO);
  }
  ~StderrRedirect() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }

 private:
  int saved_;
};

TEST(RecordingProgress, LineShowsPercentAndMiB) {
  EXPECT_EQ(ProgressLine("encrypt", 512u << 20, 1024u << 20), "encrypt:  50% (512.0 / 1024.0 MiB)");
  EXPECT_EQ(ProgressLine("decrypt", 3u << 20, 0), "decrypt: 3.0 MiB");
}

TEST(RecordingProgress, SilentWhenStderrIsNotATerminal) {
  testing::TempDir dir;
  const int fd = ::open((dir / "err").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  {
    StderrRedirect redirect(fd);
    EXPECT_FALSE(TerminalProgress("encrypt"));
  }
  ::close(fd);
  EXPECT_TRUE(testing::ReadBytes(dir / "err").empty());
}

TEST(RecordingProgress, DrawsOnATerminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  {
    StderrRedirect redirect(slave);
    ProgressFn progress = TerminalProgress("encrypt");
    ASSERT_TRUE(progress);
    progress(1u << 20, 2u << 20);
    progress(1u << 20, 2u << 20);  // same percent: not redrawn
    progress(2u << 20, 2u << 20);
  }
  // A pty may hand the drawn lines over in several reads: read all there is.
  std::string out;
  for (;;) {
    pollfd ready{master, POLLIN, 0};
    if (::poll(&ready, 1, 200) != 1) break;
    char buf[512];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.find("encrypt:  50% (1.0 / 2.0 MiB)"), std::string::npos);
  EXPECT_NE(out.find("encrypt: 100% (2.0 / 2.0 MiB)"), std::string::npos);
  EXPECT_EQ(out.find("50%"), out.rfind("50%")) << "a repeated percent was redrawn";
  ::close(slave);
  ::close(master);
}

}  // namespace
}  // namespace kmsd::recording
