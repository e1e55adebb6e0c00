// The raw token ceiling: hsm/ operations called directly, no broker, store,
// audit or HTTP, with as many threads as the daemon run has connections.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace kmsd::bench {

struct RawTokenOptions {
  std::filesystem::path dir;      // a dev token folder (created on first use)
  std::vector<unsigned> threads;  // e.g. {1, 8, 32, 128}
  std::chrono::seconds warmup{2};
  std::chrono::seconds duration{10};
};

// Prints one summary line per (operation, thread count): "raw_generate
// threads=N ..." (GenerateDataKey: token RNG + AES-GCM wrap under the KEK)
// and "raw_unwrap threads=N ...". Returns a process exit code: 1 when setup
// failed or any timed operation failed (after every line is printed).
int RunRawToken(const RawTokenOptions& options);

}  // namespace kmsd::bench
