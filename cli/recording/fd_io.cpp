#include "cli/recording/fd_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace kmsd::recording {

UniqueFd::UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Status UniqueFd::Close(const std::filesystem::path& path) {
  const int fd = std::exchange(fd_, -1);
  // Linux releases the descriptor even when close fails: never retry it.
  if (fd >= 0 && ::close(fd) != 0) return IoError("cannot close", path, errno);
  return {};
}

Error IoError(const char* what, const std::filesystem::path& path, int err) {
  return MakeError(ErrorCode::kInternal, std::string(what) + " '" + path.string() +
                                             "': " + std::generic_category().message(err));
}

Result<UniqueFd> OpenForRead(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open input", path, errno);
  return UniqueFd(fd);
}

std::uint64_t RegularFileSize(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::size_t> ReadFull(int fd, std::span<std::uint8_t> buf,
                             const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", path, errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status WriteAll(int fd, std::span<const std::uint8_t> buf, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write", path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

void StartWriteback(int fd, std::uint64_t offset, std::uint64_t len) noexcept {
  (void)::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(len),
                          SYNC_FILE_RANGE_WRITE);
}

Result<AtomicOutput> AtomicOutput::Create(const std::filesystem::path& target) {
  if (target.filename().empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "output path names no file");
  }
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string pattern = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // mkostemp creates with O_CREAT | O_EXCL and mode 0600.
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return IoError("cannot create temporary output in", dir, errno);
  return AtomicOutput(UniqueFd(fd), std::filesystem::path(name.data()), target);
}

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_(std::move(other.temp_)),
      target_(std::move(other.target_)),
      committed_(std::exchange(other.committed_, true)) {}

AtomicOutput::~AtomicOutput() {
  if (!committed_ && !temp_.empty()) {
    (void)fd_.Close(temp_);
    ::unlink(temp_.c_str());
  }
}

Status AtomicOutput::Commit() {
  if (::fsync(fd_.get()) != 0) return IoError("cannot fsync", temp_, errno);
  if (auto closed = fd_.Close(temp_); !closed) return closed;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    return IoError("cannot rename temporary output to", target_, errno);
  }
  committed_ = true;
  // Make the rename itself durable.
  std::filesystem::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return IoError("cannot open directory", dir, errno);
  UniqueFd dir_fd(dfd);
  if (::fsync(dir_fd.get()) != 0) return IoError("cannot fsync directory", dir, errno);
  return {};
}

}  // namespace kmsd::recording
