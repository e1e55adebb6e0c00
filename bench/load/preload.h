// The bulk loader for the scale runs: fills a stopped dev daemon's SQLite
// store through SQL, far faster than the API could, with records the daemon
// can really decrypt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace kmsd::bench {

struct PreloadOptions {
  std::filesystem::path dev_dir;  // --data-dir of a stopped dev daemon that has served the tenant
  std::string tenant = "bench";
  std::uint64_t total_records = 0;     // fill until the tenant holds this many records
  std::filesystem::path sample_out;    // if set: context ids drawn uniformly from the store
  std::uint64_t sample_size = 50'000;  // at most this many, each once
};

// Filler records are active, under KEK version 1, each with a data key the
// dev token generates and wraps with the record's binding AAD, exactly as a
// generate through the API would: a decrypt of any of them succeeds. Context
// ids, asset ids and creation times ascend, the way UUIDv7 ids and real
// traffic fill the indexes. The sample (all records of the tenant when it
// holds no more than sample_size) spreads over the whole table, so decrypts
// of it read the store where a real client would, not only its newest pages.
// Refuses a running daemon's store (its lock is held) and one whose schema
// version it does not know. Prints
// "preload records=N added=A seconds=S sampled=K". Returns a process exit code.
int RunPreload(const PreloadOptions& options);

}  // namespace kmsd::bench
