// The bulk loader for the scale runs: fills a stopped daemon's SQLite store
// with filler records straight through SQL, far faster than the API could.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace kmsd::bench {

struct PreloadOptions {
  std::filesystem::path database;  // DIR/kmsd.db of a dev daemon that has served the tenant
  std::string tenant = "bench";
  std::uint64_t total_records = 0;  // fill until the tenant holds this many records
};

// Filler records are active, under KEK version 1, with random 68-byte blobs in
// place of wrapped keys (never decrypted: the timed decrypts use records made
// through the API). Context ids, asset ids and creation times ascend, the way
// UUIDv7 ids and real traffic fill the indexes. Refuses a store whose schema
// version it does not know. Prints "preload records=N seconds=S". Returns a
// process exit code.
int RunPreload(const PreloadOptions& options);

}  // namespace kmsd::bench
