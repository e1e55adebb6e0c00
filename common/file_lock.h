// FileLock: one process at a time for a resource (an audit directory, a
// store), held as an exclusive flock on a lock file for the lock's life.
// The kernel drops it when the process dies, so a crash never leaves it
// behind.
#pragma once

#include <string>

#include "common/result.h"

namespace kmsd {

class FileLock {
 public:
  // Creates `path` (0600) if missing and locks it. kConflict when another
  // process holds it; `unavailable` when the file cannot be opened or locked.
  static Result<FileLock> Acquire(const std::string& path, ErrorCode unavailable);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace kmsd
