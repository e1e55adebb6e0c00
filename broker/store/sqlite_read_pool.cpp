#include "broker/store/sqlite_read_pool.h"

#include <algorithm>

namespace kmsd::store::sqlite {

Result<std::unique_ptr<ReadPool>> ReadPool::Open(const std::filesystem::path& path,
                                                 std::size_t size,
                                                 std::chrono::milliseconds busy_timeout,
                                                 int cache_kib) {
  std::unique_ptr<ReadPool> pool(new ReadPool());
  const ConnectionOptions options{
      .create = false, .read_only = true, .busy_timeout = busy_timeout, .cache_kib = cache_kib};
  for (std::size_t i = 0; i < std::max<std::size_t>(1, size); ++i) {
    auto conn = Connection::Open(path, options);
    if (!conn) return conn.error();
    pool->free_.push_back(conn->get());
    pool->all_.push_back(std::move(*conn));
  }
  return pool;
}

ReadPool::Lease ReadPool::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !free_.empty(); });
  Connection* conn = free_.back();
  free_.pop_back();
  return Lease(*this, conn);
}

void ReadPool::Release(Connection* conn) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(conn);
  }
  cv_.notify_one();
}

}  // namespace kmsd::store::sqlite
