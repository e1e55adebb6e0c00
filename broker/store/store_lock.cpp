#include "broker/store/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace kmsd::store {

Result<StoreLock> StoreLock::Acquire(const std::string& store_path) {
  const std::string path = store_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return MakeError(ErrorCode::kStoreUnavailable, "store lock file cannot be opened: " + path);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved_errno = errno;
    ::close(fd);
    if (saved_errno == EWOULDBLOCK) {
      return MakeError(
          ErrorCode::kConflict,
          "store " + store_path + " is in use by another kmsd process (it holds " + path + ")");
    }
    return MakeError(ErrorCode::kStoreUnavailable, "store lock file cannot be locked: " + path);
  }
  return StoreLock(fd);
}

StoreLock::StoreLock(StoreLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace kmsd::store
