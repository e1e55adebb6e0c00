// store_throughput: measures the SQLite record store on this machine's disk.
//
//   store_throughput [DIR] [--rows N]
//
// Prints inserts/s and inserts per fsync for 1..64 concurrent inserting
// threads (group commit at work), the BulkInsert preload rate for N rows
// (default 1,000,000), and Find latency on the loaded file. A measurement
// tool, not a test: it asserts nothing about speed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "broker/store/context_id.h"
#include "broker/store/sqlite_record_store.h"
#include "store_test_util.h"

using namespace kmsd;
using namespace kmsd::store;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ConcurrentInserts(SqliteRecordStore& store, int threads, int per_thread) {
  std::atomic<int> errors{0};
  const auto before = store.write_stats();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        auto id = NewContextIdV7(SystemClock());
        if (!id || !store.Insert(testing::MakeRecord("bench", *id))) ++errors;
      }
    });
  }
  for (auto& t : pool) t.join();
  const double s = Seconds(start);
  const auto after = store.write_stats();
  const auto writes = after.writes - before.writes;
  const auto commits = after.commits - before.commits;
  std::printf(
      "insert  threads=%3d  inserts=%6llu  %8.0f inserts/s  %6.1f inserts/fsync  errors=%d\n",
      threads, static_cast<unsigned long long>(writes), static_cast<double>(writes) / s,
      commits ? static_cast<double>(writes) / static_cast<double>(commits) : 0.0, errors.load());
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir;
  std::size_t rows = 1000000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rows" && i + 1 < argc) {
      rows = std::strtoull(argv[++i], nullptr, 10);
    } else {
      dir = arg;
    }
  }
  std::unique_ptr<testing::TempDir> temp;
  if (dir.empty()) {
    temp = std::make_unique<testing::TempDir>();
    dir = temp->path();
  }
  const auto path = dir / "store-bench.db";
  std::filesystem::remove(path);
  auto opened = SqliteRecordStore::Open({.path = path});
  if (!opened) {
    std::fprintf(stderr, "open failed: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& store = **opened;
  if (!store.AddKekVersion("bench", 1, SystemClock().Now())) return 1;
  std::printf("store file: %s\n", path.c_str());

  for (const int threads : {1, 2, 4, 8, 16, 32, 64}) {
    ConcurrentInserts(store, threads, std::max(200, 3200 / threads));
  }

  // Preload: generate rows in blocks to bound memory.
  const auto start = std::chrono::steady_clock::now();
  const std::size_t block = 100000;
  std::vector<std::string> sample;
  for (std::size_t done = 0; done < rows; done += block) {
    std::vector<Record> batch;
    for (std::size_t i = done; i < std::min(rows, done + block); ++i) {
      auto id = NewContextIdV7(SystemClock());
      if (!id) return 1;
      if (i % 1000 == 0) sample.push_back(*id);
      batch.push_back(testing::MakeRecord("bench", std::move(*id)));
    }
    if (auto s = store.BulkInsert(batch); !s) {
      std::fprintf(stderr, "bulk insert failed: %s\n", s.error().message.c_str());
      return 1;
    }
  }
  const double bulk_s = Seconds(start);
  std::printf("bulk    rows=%zu  %.1f s  %.0f rows/s  file=%.0f MiB\n", rows, bulk_s,
              static_cast<double>(rows) / bulk_s,
              static_cast<double>(std::filesystem::file_size(path)) / (1024.0 * 1024.0));

  // Find latency on the loaded file, 4 reader threads.
  std::atomic<int> errors{0};
  const auto find_start = std::chrono::steady_clock::now();
  std::vector<std::thread> readers;
  constexpr int kReaders = 4;
  constexpr int kFindsPerReader = 20000;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < kFindsPerReader; ++i) {
        const auto& id = sample[(static_cast<std::size_t>(i) * 7919 + t) % sample.size()];
        if (!store.Find("bench", id)) ++errors;
      }
    });
  }
  for (auto& t : readers) t.join();
  const double find_s = Seconds(find_start);
  std::printf("find    threads=%d  %.0f finds/s  %.1f us/find/thread  errors=%d\n", kReaders,
              kReaders * kFindsPerReader / find_s, find_s * 1e6 / kFindsPerReader, errors.load());
  ConcurrentInserts(store, 16, 200);  // group commit on a large file
  return errors.load() == 0 ? 0 : 1;
}
