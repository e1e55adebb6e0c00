// kmsd: the key management daemon.
//
//   kmsd --config FILE          production: TOML config, refuses unsafe settings
//   kmsd --check-config FILE    validate and exit 0/1 with a clear message
//   kmsd --dev --data-dir DIR [--listen 127.0.0.1:PORT]
//
// Signals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads
// policies, keys and certificates. systemd: READY=1 once every token answered
// a wrap/unwrap and the store a query; WATCHDOG=1 when WatchdogSec is set.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "common/locked_pool.h"
#include "daemon/app.h"
#include "daemon/config.h"
#include "daemon/dev_mode.h"

namespace {

using kmsd::daemon::App;
using kmsd::daemon::Config;

// No core dumps: a dump of this process would hold PINs and data keys. Every
// file the daemon creates (store, audit log, keys) is private to its user.
void HardenProcess() {
  ::umask(0077);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
}

int CheckConfig(const std::string& path) {
  kmsd::daemon::ConfigProblems problems;
  auto config = kmsd::daemon::LoadConfigFile(path, &problems);
  if (config) {
    std::printf("%s: OK\n", path.c_str());
    std::fflush(stdout);  // before the warnings on stderr
    // Not errors of the file (an example names files installed later), but
    // the daemon cannot start until they are readable: say so.
    for (const auto& missing : kmsd::daemon::UnreadableFiles(*config)) {
      std::fprintf(stderr, "  warning: %s (kmsd will not start until this is fixed)\n",
                   missing.c_str());
    }
    return 0;
  }
  std::fprintf(stderr, "%s: %zu problem(s)\n", path.c_str(), problems.problems.size());
  for (const auto& problem : problems.problems) std::fprintf(stderr, "  %s\n", problem.c_str());
  return 1;
}

void PrintDevHelp(const App& app, const Config& config) {
  std::printf("kmsd dev mode: plain HTTP on loopback, everything under %s\n",
              config.dev_data_dir.c_str());
  for (const auto& line : app.Summary()) std::printf("  %s\n", line.c_str());
  // An IPv6 address is bracketed in a URL (RFC 3986), or curl and kmsctl
  // read its colons as the port.
  const std::string& address = config.server.listen.address;
  const std::string host = address.find(':') == std::string::npos ? address : "[" + address + "]";
  const std::string url = "http://" + host + ":" + std::to_string(app.api_port());
  std::printf(
      "\nTry it (any tenant name works in dev mode):\n"
      "  export KMSD_URL=%s\n"
      "  export KMSD_TOKEN=$(kmsctl dev token --data-dir %s --tenant acme --subject alice "
      "--roles encrypt,decrypt,admin)\n"
      "  kmsctl datakey generate --asset-type recording --asset-id mtg-1/rec.mp4\n"
      "  kmsctl datakey decrypt --context-id CTX --authz $(kmsctl dev authz --data-dir %s "
      "--tenant acme --context-id CTX)\n\n"
      "AWS XKS proxy API (docs/xks.md), keys dev-key, dev-encrypt-only, dev-decrypt-only, "
      "dev-no-usage:\n"
      "  curl --aws-sigv4 aws:amz:us-east-1:kms-xks-proxy --user \"$(cat %s/xks/sigv4-1.cred)\" "
      "\\\n"
      "    -H 'Content-Type: application/json' \\\n"
      "    -d '{\"requestMetadata\":{\"kmsRequestId\":\"1\",\"kmsOperation\":\"KmsHealthCheck\"}}' "
      "\\\n"
      "    %s%s/kms/xks/v1/health\n\n",
      url.c_str(), config.dev_data_dir.c_str(), config.dev_data_dir.c_str(),
      config.dev_data_dir.c_str(), url.c_str(), std::string(kmsd::daemon::kDevXksPrefix).c_str());
  std::fflush(stdout);
}

// Waits for signals on the main thread (they are blocked everywhere else).
int Serve(App& app) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);

  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  sd_notify(0, "READY=1\nSTATUS=serving");
  spdlog::info("kmsd ready on port {}", app.api_port());
  if (const auto pool = kmsd::locked_pool::CurrentStats(); pool.unlocked_bytes > 0) {
    spdlog::warn(
        "{} KiB of memory for keys and PINs could not be locked (RLIMIT_MEMLOCK, "
        "LimitMEMLOCK= in the unit): they may be written to swap",
        pool.unlocked_bytes / 1024);
  }

  for (;;) {
    // Wake at least every second (and at half the watchdog period).
    std::uint64_t wait_usec = 1'000'000;
    if (watchdog) wait_usec = std::min<std::uint64_t>(wait_usec, watchdog_usec / 2);
    const timespec timeout{static_cast<time_t>(wait_usec / 1'000'000),
                           static_cast<long>((wait_usec % 1'000'000) * 1000)};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (watchdog) sd_notify(0, "WATCHDOG=1");
    app.Tick();
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      if (auto reloaded = app.Reload(); reloaded) {
        spdlog::info("reload: policies, keys and certificates re-read");
      } else {
        spdlog::error("{}", reloaded.error().message);
      }
      sd_notify(0, "READY=1");
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("signal {}: draining in-flight requests", sig);
      sd_notify(0, "STOPPING=1");
      app.Stop();
      spdlog::info("stopped");
      return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  HardenProcess();
  // Block the signals we handle before any thread exists, so every thread
  // inherits the mask and only Serve() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App cli{"kmsd: HSM-backed key management daemon"};
  std::string config_path, check_path, data_dir;
  std::string listen = "127.0.0.1:" + std::to_string(kmsd::daemon::kDevDefaultPort);
  bool dev = false;
  auto* config_opt = cli.add_option("--config", config_path, "TOML configuration file");
  auto* check_opt = cli.add_option("--check-config", check_path, "validate FILE and exit 0/1");
  auto* dev_opt =
      cli.add_flag("--dev", dev, "embedded dev default: SoftHSM2 + SQLite under --data-dir");
  auto* dir_opt =
      cli.add_option("--data-dir", data_dir, "dev mode: folder for everything")->needs(dev_opt);
  cli.add_option("--listen", listen, "dev mode: loopback HOST:PORT (default 127.0.0.1:8200)")
      ->needs(dev_opt);
  dev_opt->needs(dir_opt);
  config_opt->excludes(check_opt)->excludes(dev_opt);
  check_opt->excludes(dev_opt);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the usage; its own codes (106, 108, 114, ...) would make
    // a script's check of --check-config's 0/1 misread a typo: usage is 2.
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (!check_path.empty()) return CheckConfig(check_path);
  if (config_path.empty() && !dev) {
    std::fprintf(stderr, "kmsd: give --config FILE, --check-config FILE or --dev --data-dir DIR\n");
    return 2;
  }

  Config config;
  if (dev) {
    auto prepared = kmsd::daemon::PrepareDevMode(data_dir, listen);
    if (!prepared) {
      std::fprintf(stderr, "kmsd --dev: %s\n", prepared.error().message.c_str());
      return 1;
    }
    config = std::move(*prepared);
  } else {
    kmsd::daemon::ConfigProblems problems;
    auto loaded = kmsd::daemon::LoadConfigFile(config_path, &problems);
    if (!loaded) {
      std::fprintf(stderr, "kmsd: %s refused:\n", config_path.c_str());
      for (const auto& problem : problems.problems) std::fprintf(stderr, "  %s\n", problem.c_str());
      return 1;
    }
    config = std::move(*loaded);
  }
  spdlog::info("effective configuration: {}", kmsd::daemon::DumpConfigRedacted(config));

  auto app = App::Create(config);
  if (!app) {
    spdlog::critical("start-up failed: {} ({})", app.error().message,
                     kmsd::ErrorCodeName(app.error().code));
    return 1;
  }
  if (auto started = (*app)->Start(); !started) {
    spdlog::critical("start-up failed: {}", started.error().message);
    return 1;
  }
  if (dev) PrintDevHelp(**app, config);
  return Serve(**app);
}
