// ReadPool: a fixed set of query_only connections handed out one per reader.
//
// WAL lets each connection read a consistent snapshot while the writer
// commits, so readers never wait for the writer; they wait only for a free
// connection of the pool. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "broker/store/sqlite_connection.h"
#include "common/result.h"

namespace kmsd::store::sqlite {

class ReadPool {
 public:
  // Opens `size` (at least 1) read connections on an existing database.
  static Result<std::unique_ptr<ReadPool>> Open(const std::filesystem::path& path, std::size_t size,
                                                std::chrono::milliseconds busy_timeout,
                                                int cache_kib);

  // A connection borrowed for one read; returned to the pool on destruction.
  class Lease {
   public:
    Lease(ReadPool& pool, Connection* conn) noexcept : pool_(&pool), conn_(conn) {}
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::exchange(other.conn_, nullptr)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Release(conn_);
    }
    Connection& operator*() const noexcept { return *conn_; }
    Connection* operator->() const noexcept { return conn_; }

   private:
    ReadPool* pool_;
    Connection* conn_;
  };

  // Blocks until a connection is free.
  Lease Acquire();

 private:
  ReadPool() = default;
  void Release(Connection* conn);

  std::vector<std::unique_ptr<Connection>> all_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Connection*> free_;
};

}  // namespace kmsd::store::sqlite
