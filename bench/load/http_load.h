// The load generator: N keep-alive HTTP connections against a `kmsd --dev`
// daemon, warm-up, then a fixed-duration timed phase per operation.
//
// Tokens are minted from the dev data dir (docs/dev-mode.md): one bearer token
// for the whole run (clients reuse theirs), and for decrypt one fresh
// authorization token per request, all minted before the phase's clock starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kmsd::bench {

struct HttpLoadOptions {
  std::uint16_t port = 0;  // on 127.0.0.1
  std::filesystem::path dev_dir;
  std::string tenant = "bench";
  std::vector<unsigned> connections;    // one round per entry
  std::vector<std::string> operations;  // "generate" and/or "decrypt", run in this order per round
  std::chrono::seconds warmup{2};
  std::chrono::seconds duration{10};
  std::filesystem::path contexts_in;   // decrypt these context ids (one per line) ...
  std::filesystem::path contexts_out;  // ... and/or save those generated here
  int daemon_pid = 0;                  // > 0: report the daemon's CPU per request
  // Decrypts/s expected (0: 2,000): tokens are minted for twice this, and a
  // round that runs out is repeated with four times as many.
  double rate_hint = 0;
};

// Prints one line per (operation, connections):
// "generate conns=N ops=.. errors=.. ops_s=.. p50_ms=.. p99_ms=.. p999_ms=.."
// with the daemon's (daemon_pid) and the generator's CPU per request.
// Every line is printed; then the exit code is 1 when setup failed, any
// request failed (warm-up included: kinds and counts on stderr; a refused
// connect counts once and ends that connection) or a decrypt round ran out of
// authorization tokens four times in a row (each time it is discarded and
// repeated with four times the tokens), else 0.
int RunHttpLoad(const HttpLoadOptions& options);

}  // namespace kmsd::bench
