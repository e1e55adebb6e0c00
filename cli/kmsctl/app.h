// kmsctl's command line: parsing (CLI11) into Settings, and running one
// command. main() is RunKmsctl; tests call ParseKmsctl and RunKmsctl directly.
//
// Commands and options are those of DESIGN.md's Commands section and
// docs/kmsctl.md. Every option accepts `--opt=value` and `--opt value`; a
// `--ttl` value may be negative in either form (`--ttl -1m`).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace kmsd::kmsctl {

struct Settings {
  // Global options (env KMSD_URL, KMSD_TOKEN).
  std::string url = "http://127.0.0.1:8200";
  std::string token;  // from --token or KMSD_TOKEN
  std::string token_file;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;

  // "dev token", "datakey generate", "encrypt-file", "audit verify", ...
  std::string command;

  std::string data_dir;
  std::string tenant;
  std::string subject;
  std::string roles;
  std::string ttl;  // empty: the command's default (dev token 1h, dev authz 5m)
  std::string context_id;
  std::string asset_type;
  std::string asset_id;
  std::string authz;
  std::string in;
  std::string out;
  std::uint32_t chunk_size = 0;  // 0 = the format's default
  std::string file;              // policy set FILE / policy evaluate FACTS.json
  std::vector<std::string> files;
  std::string public_key;
  bool strict = false;
  std::uint32_t key_version = 0;  // keys destroy VERSION
  bool force = false;             // keys destroy --force
  std::uint32_t batch = 1000;     // keys rewrap --batch
  // Longest unanchored tail accepted as a live log's (the daemon's default
  // audit.checkpoint_every_events); a longer one means checkpoints are missing.
  std::uint64_t max_unanchored = 1000;
};

// Parses argv. Returns nullopt when a command is to run; otherwise the exit
// code to end with (0 after --help, 2 for a usage error), having printed
// help or the error to `out` / `err`.
std::optional<int> ParseKmsctl(const std::vector<std::string>& args, Settings& settings,
                               std::ostream& out, std::ostream& err);

// Runs the parsed command; returns the exit code (exit_codes.h).
int RunCommand(const Settings& settings, std::ostream& out, std::ostream& err);

// ParseKmsctl + RunCommand; args[0] is the program name.
int RunKmsctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace kmsd::kmsctl
