// Group commit, concurrency and store failures of SqliteRecordStore.
//
// To control which writes share a batch, a test holds the database's write
// lock from a second connection: the writer thread then waits in BEGIN with
// its current batch while new writes queue up behind it; the queue depth is
// observable through write_stats(), so no test depends on timing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "broker/store/context_id.h"
#include "broker/store/sqlite_record_store.h"
#include "store_test_util.h"

namespace kmsd::store {
namespace {

using testing::MakeRecord;
using testing::RawDb;
using testing::TempDir;
using testing::WrappedKeyFor;

const Instant kT0 = FromUnixMicros(1774746000000000);

std::unique_ptr<SqliteRecordStore> OpenStore(const std::filesystem::path& path,
                                             std::chrono::milliseconds busy_timeout) {
  auto opened = SqliteRecordStore::Open({.path = path, .busy_timeout = busy_timeout});
  if (!opened) throw std::runtime_error(opened.error().message);
  auto store = std::move(*opened);
  if (!store->AddKekVersion("tenant-a", 1, kT0)) throw std::runtime_error("add KEK");
  return store;
}

// Polls until `n` writes are queued behind the writer (bounded wait; the
// assertion after it is on the count, not on time).
bool WaitForQueued(const SqliteRecordStore& store, std::uint64_t n) {
  for (int i = 0; i < 20000; ++i) {
    if (store.write_stats().queued >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Polls until the writer has taken a batch off the queue (and is waiting in
// BEGIN for the lock a test holds).
bool WaitForWriterBusy(const SqliteRecordStore& store) {
  for (int i = 0; i < 20000; ++i) {
    const auto stats = store.write_stats();
    if (stats.in_batch > 0 && stats.queued == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Holds the write lock of the database from its own connection.
class WriteLock {
 public:
  explicit WriteLock(const std::filesystem::path& path) : raw_(path) {
    if (raw_.Exec("BEGIN IMMEDIATE") != SQLITE_OK) throw std::runtime_error("lock");
  }
  void Release() {
    if (!released_) raw_.Exec("COMMIT");
    released_ = true;
  }
  ~WriteLock() { Release(); }

 private:
  RawDb raw_;
  bool released_ = false;
};

TEST(GroupCommitTest, WaitingWritesCommitAsOneBatch) {
  TempDir dir;
  const auto path = dir.path() / "r.db";
  auto store = OpenStore(path, std::chrono::seconds(30));
  const auto before = store->write_stats();

  WriteLock lock(path);
  // The first insert takes the writer into BEGIN, where it waits for the lock.
  std::vector<std::thread> threads;
  std::vector<Status> results(41);
  threads.emplace_back([&] { results[0] = store->Insert(MakeRecord("tenant-a", "first")); });
  ASSERT_TRUE(WaitForWriterBusy(*store));
  for (int i = 1; i <= 40; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = store->Insert(MakeRecord("tenant-a", "ctx-" + std::to_string(i))); });
  }
  ASSERT_TRUE(WaitForQueued(*store, 40));
  lock.Release();
  for (auto& t : threads) t.join();

  for (const auto& r : results) EXPECT_TRUE(r);
  const auto after = store->write_stats();
  EXPECT_EQ(after.writes - before.writes, 41u);
  EXPECT_EQ(after.commits - before.commits, 2u);  // "first" alone, then the 40 together
  EXPECT_EQ(after.largest_batch, 40u);
}

TEST(GroupCommitTest, DuplicateInsideOneBatchFailsOnlyThatInsert) {
  TempDir dir;
  const auto path = dir.path() / "r.db";
  auto store = OpenStore(path, std::chrono::seconds(30));
  ASSERT_TRUE(store->Insert(MakeRecord("tenant-a", "already-there")));

  WriteLock lock(path);
  std::vector<std::thread> threads;
  Status blocker;
  threads.emplace_back([&] { blocker = store->Insert(MakeRecord("tenant-a", "blocker")); });
  ASSERT_TRUE(WaitForWriterBusy(*store));
  // One batch: two inserts of "twin" with different keys, one of an id that
  // is already committed, and ten unrelated inserts.
  Status twin_a, twin_b, old_dup;
  std::vector<Status> others(10);
  threads.emplace_back([&] {
    Record r = MakeRecord("tenant-a", "twin");
    r.wrapped_key = WrappedKeyFor("twin", 1);
    twin_a = store->Insert(r);
  });
  threads.emplace_back([&] {
    Record r = MakeRecord("tenant-a", "twin");
    r.wrapped_key = WrappedKeyFor("twin", 2);
    twin_b = store->Insert(r);
  });
  threads.emplace_back([&] { old_dup = store->Insert(MakeRecord("tenant-a", "already-there")); });
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&, i] {
      others[i] = store->Insert(MakeRecord("tenant-a", "other-" + std::to_string(i)));
    });
  }
  ASSERT_TRUE(WaitForQueued(*store, 13));
  lock.Release();
  for (auto& t : threads) t.join();

  EXPECT_TRUE(blocker);
  EXPECT_EQ(store->write_stats().largest_batch, 13u);
  ASSERT_NE(static_cast<bool>(twin_a), static_cast<bool>(twin_b)) << "exactly one twin wins";
  const Status& loser = twin_a ? twin_b : twin_a;
  EXPECT_EQ(loser.error().code, ErrorCode::kConflict);
  ASSERT_FALSE(old_dup);
  EXPECT_EQ(old_dup.error().code, ErrorCode::kConflict);
  for (const auto& s : others) EXPECT_TRUE(s);

  const auto twin = store->Find("tenant-a", "twin").value();
  EXPECT_EQ(twin.wrapped_key, WrappedKeyFor("twin", twin_a ? 1 : 2));
  EXPECT_EQ(store->CountActiveByKekVersion("tenant-a", 1).value(), 1u + 1u + 1u + 10u);
}

TEST(GroupCommitTest, LockedDatabaseIsStoreUnavailableAndWritesNothing) {
  TempDir dir;
  const auto path = dir.path() / "r.db";
  auto store = OpenStore(path, std::chrono::milliseconds(200));
  ASSERT_TRUE(store->Insert(MakeRecord("tenant-a", "before")));
  {
    WriteLock lock(path);  // e.g. a backup or another process holding the lock
    const Status s = store->Insert(MakeRecord("tenant-a", "during"));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kStoreUnavailable);
    const auto reserved = store->ReserveWraps("tenant-a", 1, 10);
    ASSERT_FALSE(reserved);
    EXPECT_EQ(reserved.error().code, ErrorCode::kStoreUnavailable);
    // Reads go on (WAL); health says the store cannot write.
    EXPECT_TRUE(store->Find("tenant-a", "before"));
    const Status health = store->CheckHealth();
    ASSERT_FALSE(health);
    EXPECT_EQ(health.error().code, ErrorCode::kStoreUnavailable);
    EXPECT_GE(store->write_stats().failed_batches, 2u);
  }
  // Nothing of the failed writes exists; a retry succeeds.
  const auto missing = store->Find("tenant-a", "during");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->ListKekVersions("tenant-a").value()[0].wraps_reserved, 0u);
  EXPECT_TRUE(store->CheckHealth());
  EXPECT_TRUE(store->Insert(MakeRecord("tenant-a", "during")));
  EXPECT_TRUE(store->Find("tenant-a", "during"));
}

TEST(GroupCommitTest, SixteenThreadsInsertAndFindWithZeroErrors) {
  TempDir dir;
  auto store = OpenStore(dir.path() / "r.db", std::chrono::seconds(10));
  ASSERT_TRUE(store->AddKekVersion("tenant-b", 1, kT0));
  constexpr int kThreads = 16;
  constexpr int kPerThread = 150;
  std::atomic<int> errors{0};
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string tenant = t % 2 == 0 ? "tenant-a" : "tenant-b";
      const std::string other = t % 2 == 0 ? "tenant-b" : "tenant-a";
      for (int i = 0; i < kPerThread; ++i) {
        const auto id = NewContextIdV7(SystemClock());
        if (!id) {
          ++errors;
          continue;
        }
        const Record r = MakeRecord(tenant, *id);
        if (!store->Insert(r)) ++errors;
        const auto found = store->Find(tenant, *id);
        if (!found || *found != r) ++errors;
        // The other tenant never sees it.
        const auto foreign = store->Find(other, *id);
        if (foreign || foreign.error().code != ErrorCode::kNotFound) ++errors;
        ids[t].push_back(*id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(store->CountActiveByKekVersion("tenant-a", 1).value() +
                store->CountActiveByKekVersion("tenant-b", 1).value(),
            std::uint64_t{kThreads} * kPerThread);
  const auto stats = store->write_stats();
  std::cout << "[store] 16 threads: " << stats.writes << " writes in " << stats.commits
            << " commits, largest batch " << stats.largest_batch << "\n";
}

// Not a timed assertion: it measures and logs the figures the issue asks for
// (inserts/s with 1 and with 16 threads on this machine's disk) and checks
// only that every insert succeeded and that 16 threads shared commits.
TEST(GroupCommitTest, ThroughputOneVersusSixteenThreads) {
  TempDir dir;
  auto store = OpenStore(dir.path() / "r.db", std::chrono::seconds(10));
  auto run = [&](int threads, int per_thread, const std::string& prefix) {
    std::atomic<int> errors{0};
    const auto stats_before = store->write_stats();
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::string id = prefix + std::to_string(t) + "-" + std::to_string(i);
          if (!store->Insert(MakeRecord("tenant-a", id))) ++errors;
        }
      });
    }
    for (auto& t : pool) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto stats = store->write_stats();
    const auto writes = stats.writes - stats_before.writes;
    const auto commits = stats.commits - stats_before.commits;
    std::cout << "[store] " << threads << " thread(s): " << writes << " inserts in " << seconds
              << " s = " << static_cast<long>(writes / seconds) << " inserts/s, " << commits
              << " commits (" << static_cast<double>(writes) / static_cast<double>(commits)
              << " per fsync)\n";
    EXPECT_EQ(errors.load(), 0);
    return std::pair{writes, commits};
  };
  const auto [one_writes, one_commits] = run(1, 400, "single-");
  EXPECT_EQ(one_writes, one_commits);  // one thread: nothing to group with
  const auto [many_writes, many_commits] = run(16, 400, "multi-");
  EXPECT_EQ(many_writes, 16u * 400u);
  EXPECT_LT(many_commits, many_writes);
}

}  // namespace
}  // namespace kmsd::store
