// StoreLock: one daemon per SQLite store.
//
// SQLite lets several processes share a file, but a kmsd keeps per-tenant
// KEK state (current version, reserved wrap counts) in memory next to the
// store: two daemons on one store race rotations into duplicate KEK objects
// in the token and a tenant that no longer works. The daemon therefore holds
// an exclusive flock on "<store path>.lock" while it runs; the kernel drops
// it when the process dies, so a crash never leaves it behind.
#pragma once

#include <string>

#include "common/result.h"

namespace kmsd::store {

class StoreLock {
 public:
  // kConflict naming the store when another process holds it;
  // kStoreUnavailable when the lock file cannot be opened.
  static Result<StoreLock> Acquire(const std::string& store_path);

  StoreLock(StoreLock&& other) noexcept;
  StoreLock& operator=(StoreLock&&) = delete;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock();

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace kmsd::store
