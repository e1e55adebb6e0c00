// kmsd-bench: the pieces bench/run.sh puts together into one report.
//
//   kmsd-bench raw     --dir D --conns 1,8,32,128        the raw token ceiling
//   kmsd-bench http    --port P --dev-dir D --conns ...  load through a kmsd --dev daemon
//   kmsd-bench preload --dev-dir D --records N           bulk-fill a stopped daemon's store
//
// Each prints key=value lines on stdout (see latency.h) and problems, the
// token's log included, on stderr. Exit status 1 when any operation failed,
// 2 on a usage error.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>

#include "bench/load/http_load.h"
#include "bench/load/preload.h"
#include "bench/load/raw_token.h"

int main(int argc, char** argv) {
  CLI::App app{"kmsd-bench: load generator and raw-token baseline (bench/run.sh runs it)"};
  app.require_subcommand(1);
  unsigned warmup = 2;
  unsigned duration = 10;
  std::vector<unsigned> connections{1, 8, 32, 128};

  kmsd::bench::RawTokenOptions raw;
  auto* raw_cmd = app.add_subcommand("raw", "hsm/ operations called directly");
  raw_cmd->add_option("--dir", raw.dir, "dev token folder (created on first use)")->required();

  kmsd::bench::HttpLoadOptions load;
  load.operations = {"generate", "decrypt"};
  auto* http_cmd = app.add_subcommand("http", "keep-alive HTTP load against kmsd --dev");
  http_cmd->add_option("--port", load.port, "kmsd port on 127.0.0.1")->required();
  http_cmd->add_option("--dev-dir", load.dev_dir, "the daemon's --data-dir (for signer keys)")
      ->required()
      ->check(CLI::ExistingDirectory);
  http_cmd->add_option("--tenant", load.tenant, "tenant of the bearer token")
      ->capture_default_str();
  http_cmd->add_option("--ops", load.operations, "generate and/or decrypt, in order")
      ->delimiter(',')
      ->check(CLI::IsMember({"generate", "decrypt"}))
      ->capture_default_str();
  http_cmd->add_option("--contexts-in", load.contexts_in, "context ids to decrypt, one per line");
  http_cmd->add_option("--contexts-out", load.contexts_out, "write the generated context ids here");
  http_cmd->add_option("--daemon-pid", load.daemon_pid, "report this process's CPU per request")
      ->check(CLI::PositiveNumber);
  http_cmd
      ->add_option("--rate-hint", load.rate_hint,
                   "decrypts/s expected: tokens are minted for twice that (a round that runs "
                   "out is repeated with more)")
      ->check(CLI::Range(0.0, 1'000'000.0));

  for (auto* cmd : {raw_cmd, http_cmd}) {
    // At most the daemon's default max_connections (docs/http-server.md).
    cmd->add_option("--conns", connections, "connection (thread) counts, one round each")
        ->delimiter(',')
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    // Decrypt tokens live warm-up + duration + 30 s, and the daemon accepts
    // at most 600 s (docs/tokens.md): so at most 30 + 540.
    cmd->add_option("--warmup", warmup, "seconds before the clock starts")
        ->check(CLI::Range(0, 30))
        ->capture_default_str();
    cmd->add_option("--duration", duration, "timed seconds per round")
        ->check(CLI::Range(1, 540))
        ->capture_default_str();
  }

  kmsd::bench::PreloadOptions preload;
  auto* preload_cmd = app.add_subcommand("preload", "bulk-fill a stopped daemon's store");
  preload_cmd->add_option("--dev-dir", preload.dev_dir, "the stopped daemon's --data-dir")
      ->required()
      ->check(CLI::ExistingDirectory);
  preload_cmd->add_option("--tenant", preload.tenant, "tenant to fill")->capture_default_str();
  preload_cmd->add_option("--records", preload.total_records, "records the tenant ends with")
      ->required()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  auto* sample_out = preload_cmd->add_option(
      "--sample-out", preload.sample_out, "write context ids drawn uniformly from the store here");
  preload_cmd->add_option("--sample", preload.sample_size, "how many context ids to draw")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->needs(sample_out)
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help, or a usage error
  }
  if (*http_cmd) {
    auto usage_error = [](const std::string& what) {
      std::fprintf(stderr, "kmsd-bench http: %s\n", what.c_str());
      return 2;
    };
    if (load.daemon_pid > 0 && ::kill(load.daemon_pid, 0) != 0) {
      return usage_error("--daemon-pid " + std::to_string(load.daemon_pid) + ": no such process");
    }
    if (std::isnan(load.rate_hint)) return usage_error("--rate-hint must be a number");
    if (load.operations.front() == "decrypt" && load.contexts_in.empty()) {
      return usage_error("--ops decrypt needs --contexts-in (or generate first)");
    }
  }
  // stdout carries only the result lines bench/run.sh reads.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("kmsd-bench"));
  if (*raw_cmd) {
    raw.threads = connections;
    raw.warmup = std::chrono::seconds(warmup);
    raw.duration = std::chrono::seconds(duration);
    return kmsd::bench::RunRawToken(raw);
  }
  if (*http_cmd) {
    load.connections = connections;
    load.warmup = std::chrono::seconds(warmup);
    load.duration = std::chrono::seconds(duration);
    return kmsd::bench::RunHttpLoad(load);
  }
  return kmsd::bench::RunPreload(preload);
}
