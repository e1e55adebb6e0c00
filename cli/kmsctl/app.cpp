#include "cli/kmsctl/app.h"

#include <CLI/CLI.hpp>
#include <ostream>

#include "cli/kmsctl/commands.h"
#include "cli/kmsctl/exit_codes.h"

namespace kmsd::kmsctl {
namespace {

// Builds the command tree; every option writes into `s`, and each leaf
// command's callback records its name in s.command.
void Build(CLI::App& app, Settings& s) {
  app.require_subcommand(1);
  app.add_option("--url", s.url, "kmsd base URL")->envname("KMSD_URL");
  app.add_option("--token", s.token, "bearer token (prefer --token-file)")->envname("KMSD_TOKEN");
  // --token-file wins over --token / KMSD_TOKEN (a stale env var must not
  // make an explicit file an error).
  app.add_option("--token-file", s.token_file, "file holding the bearer token");
  app.add_option("--ca-file", s.ca_file, "CA bundle (PEM) that signed the daemon's certificate");
  app.add_option("--cert-file", s.cert_file, "client certificate (PEM) for mutual TLS");
  app.add_option("--key-file", s.key_file, "client private key (PEM) for mutual TLS");

  const auto leaf = [&s](CLI::App* cmd, std::string name) {
    cmd->callback([&s, name] { s.command = name; });
    return cmd;
  };

  auto* dev = app.add_subcommand("dev", "mint dev-mode tokens")->require_subcommand(1);
  auto* dev_token = leaf(dev->add_subcommand("token", "print a dev bearer token"), "dev token");
  dev_token->add_option("--data-dir", s.data_dir, "the kmsd --dev data dir")->required();
  dev_token->add_option("--tenant", s.tenant)->required();
  dev_token->add_option("--subject", s.subject)->required();
  dev_token->add_option("--roles", s.roles, "encrypt,decrypt,admin")->required();
  // Both --ttl options share one field, so their defaults are applied when the
  // command runs (default_val would let the last one defined win for both).
  dev_token->add_option("--ttl", s.ttl, "lifetime, e.g. 1h")->default_str("1h");
  auto* dev_authz =
      leaf(dev->add_subcommand("authz", "print a dev authorization token"), "dev authz");
  dev_authz->add_option("--data-dir", s.data_dir, "the kmsd --dev data dir")->required();
  dev_authz->add_option("--tenant", s.tenant)->required();
  dev_authz->add_option("--context-id", s.context_id)->required();
  dev_authz->add_option("--subject", s.subject, "the caller it is issued to");
  dev_authz->add_option("--ttl", s.ttl, "lifetime, e.g. 5m or -1m")->default_str("5m");

  auto* datakey = app.add_subcommand("datakey", "data key calls")->require_subcommand(1);
  auto* generate =
      leaf(datakey->add_subcommand("generate", "POST /v1/datakeys"), "datakey generate");
  generate->add_option("--asset-type", s.asset_type)->required();
  generate->add_option("--asset-id", s.asset_id)->required();
  generate->add_option("--context-id", s.context_id);
  auto* decrypt =
      leaf(datakey->add_subcommand("decrypt", "POST /v1/datakeys/decrypt"), "datakey decrypt");
  decrypt->add_option("--context-id", s.context_id)->required();
  decrypt->add_option("--authz", s.authz, "authorization token")->required();

  auto* enc = leaf(app.add_subcommand("encrypt-file", "encrypt a file to .kmsenc"), "encrypt-file");
  enc->add_option("IN", s.in)->required();
  enc->add_option("OUT", s.out)->required();
  enc->add_option("--asset-type", s.asset_type)->required();
  enc->add_option("--asset-id", s.asset_id)->required();
  enc->add_option("--context-id", s.context_id);
  enc->add_option("--chunk-size", s.chunk_size, "bytes per chunk (4 KiB .. 16 MiB)");
  auto* dec = leaf(app.add_subcommand("decrypt-file", "decrypt a .kmsenc file"), "decrypt-file");
  dec->add_option("IN", s.in)->required();
  dec->add_option("OUT", s.out)->required();
  dec->add_option("--authz", s.authz, "authorization token")->required();

  auto* policy = app.add_subcommand("policy", "tenant policy")->require_subcommand(1);
  leaf(policy->add_subcommand("get", "GET /v1/policy"), "policy get");
  leaf(policy->add_subcommand("set", "PUT /v1/policy"), "policy set")
      ->add_option("FILE", s.file)
      ->required();
  leaf(policy->add_subcommand("evaluate", "POST /v1/policy/evaluate"), "policy evaluate")
      ->add_option("FACTS", s.file)
      ->required();

  auto* keys = app.add_subcommand("keys", "KEK versions")->require_subcommand(1);
  leaf(keys->add_subcommand("list", "GET /v1/keys"), "keys list");
  leaf(keys->add_subcommand("rotate", "POST /v1/keys/rotate"), "keys rotate");
  auto* rewrap =
      leaf(keys->add_subcommand("rewrap", "POST /v1/keys/rewrap until none remain"), "keys rewrap");
  rewrap->add_option("--batch", s.batch, "records per step (1..10000)")
      ->check(CLI::Range(1u, 10000u));
  auto* destroy =
      leaf(keys->add_subcommand("destroy", "DELETE /v1/keys/VERSION: crypto-shred a KEK version"),
           "keys destroy");
  destroy->add_option("VERSION", s.key_version, "KEK version, 1..4294967295")
      ->required()
      ->check(CLI::Range(1u, 4294967295u));
  destroy->add_flag("--force", s.force, "also shred the records still under it");

  auto* records = app.add_subcommand("records", "key records")->require_subcommand(1);
  leaf(records->add_subcommand("show", "GET /v1/records/C"), "records show")
      ->add_option("C", s.context_id)
      ->required();
  leaf(records->add_subcommand("destroy", "DELETE /v1/records/C"), "records destroy")
      ->add_option("C", s.context_id)
      ->required();

  auto* audit = app.add_subcommand("audit", "audit trail")->require_subcommand(1);
  auto* verify =
      leaf(audit->add_subcommand("verify", "verify audit files offline"), "audit verify");
  verify->add_option("FILE", s.files, "audit files or directories, in chain order")->required();
  verify->add_option("--public-key", s.public_key, "checkpoint signer public key (PEM)");
  verify->add_flag("--strict", s.strict, "fail (exit 6) when any event is not yet anchored");
  verify
      ->add_option("--max-unanchored", s.max_unanchored,
                   "fail (exit 6) when more events than this follow the last checkpoint "
                   "(default 1000: the daemon's audit.checkpoint_every_events)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{100'000'000}));
}

}  // namespace

std::optional<int> ParseKmsctl(const std::vector<std::string>& args, Settings& settings,
                               std::ostream& out, std::ostream& err) {
  CLI::App app("kmsctl: command-line client of kmsd", "kmsctl");
  Build(app, settings);
  // CLI11 would read "-1m" after --ttl as an unknown short option: glue a
  // negative value onto its option so that `--ttl -1m` means `--ttl=-1m`.
  std::vector<std::string> joined;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--ttl" && i + 1 < args.size() && args[i + 1].starts_with('-')) {
      joined.push_back("--ttl=" + args[i + 1]);
      ++i;
    } else {
      joined.push_back(args[i]);
    }
  }
  std::vector<char*> argv;
  for (auto& arg : joined) argv.push_back(arg.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    app.exit(e, out, err);
    return kExitUsage;
  }
  return std::nullopt;
}

int RunKmsctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Settings settings;
  if (const auto done = ParseKmsctl(args, settings, out, err)) return *done;
  return RunCommand(settings, out, err);
}

}  // namespace kmsd::kmsctl
