// Counters of the SQLite store's group commit, for tests, the benchmark and
// metrics: writes / commits is the average batch size.
#pragma once

#include <cstdint>

namespace kmsd::store {

struct WriterStats {
  std::uint64_t commits = 0;         // batch transactions committed (one fsync each)
  std::uint64_t writes = 0;          // writes that were part of a committed batch
  std::uint64_t largest_batch = 0;   // most writes in one committed batch
  std::uint64_t failed_batches = 0;  // batches rolled back by a store failure
  std::uint64_t queued = 0;          // writes waiting for the next batch right now
  std::uint64_t in_batch = 0;        // writes of the batch the writer is running right now
};

}  // namespace kmsd::store
