// kmsd-token-demo: exercises the token end to end (README command 1).
//
// Creates, once, under --data-dir: softhsm2.conf, a token folder, a token
// labelled "kmsd-dev" whose random user PIN is in token.pin (mode 0600; the
// SO PIN in token.so-pin), and a KEK for tenant "demo". Then generates a data
// key, unwraps it, and shows that a different AAD fails with the integrity
// error. Key bytes and PINs are never printed, only SHA-256 fingerprints.
// A second run reuses everything.
#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "hsm/dev_token.h"
#include "hsm/pkcs11_key_service.h"

namespace {

namespace fs = std::filesystem;
namespace hsm = kmsd::hsm;

std::string Fingerprint(std::span<const std::uint8_t> bytes) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (int i = 0; i < 4; ++i) hex += fmt::format("{:02x}", digest[i]);
  return "sha256:" + hex + "...";
}

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

int Fail(std::string_view step, const kmsd::Error& error) {
  fmt::print(stderr, "FAILED {}: {} ({})\n", step, error.message, kmsd::ErrorCodeName(error.code));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kmsd token demo: data key round trip on a local SoftHSM2 token"};
  std::string data_dir;
  app.add_option("--data-dir", data_dir, "folder for the token, its config and PIN")->required();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const fs::path dir = fs::absolute(data_dir);
  auto dev = hsm::EnsureDevToken(dir);
  if (!dev) return Fail("preparing the dev token", dev.error());
  if (dev->created) {
    fmt::print("initialised token '{}' under {}; user PIN in {} (0600)\n", hsm::kDevTokenLabel,
               dir.string(), dev->config.pin_file);
  } else {
    fmt::print("reusing token '{}' and {}\n", hsm::kDevTokenLabel, dev->config.pin_file);
  }

  auto service = hsm::OpenPkcs11KeyService(dev->config);
  if (!service) return Fail("opening the key service", service.error());
  fmt::print("opened token '{}': mechanisms present, logged in\n", hsm::kDevTokenLabel);

  const hsm::KekId kek{"demo", 1};
  auto versions = (*service)->ListKekVersions(kek.tenant);
  if (!versions) return Fail("listing KEKs", versions.error());
  if (versions->empty()) {
    if (auto st = (*service)->CreateKek(kek); !st) return Fail("creating the KEK", st.error());
    fmt::print("created KEK kmsd:demo:v1 (AES-256, sensitive, not extractable)\n");
  } else {
    fmt::print("reusing KEK kmsd:demo:v1 ({} version(s) present)\n", versions->size());
  }

  const std::string aad = "tenant=demo;context=demo-asset-1";
  auto generated = (*service)->GenerateDataKey(kek, Bytes(aad));
  if (!generated) return Fail("generating a data key", generated.error());
  fmt::print("generated data key {} ({}), wrapped blob {} bytes\n",
             Fingerprint(generated->plaintext.expose()), generated->plaintext,
             generated->wrapped.size());

  auto unwrapped = (*service)->Unwrap(kek, generated->wrapped, Bytes(aad));
  if (!unwrapped) return Fail("unwrapping the data key", unwrapped.error());
  const bool same = unwrapped->Equals(generated->plaintext.expose());
  fmt::print("unwrapped data key {}: {}\n", Fingerprint(unwrapped->expose()),
             same ? "matches" : "DIFFERS");
  if (!same) return 1;

  auto wrong = (*service)->Unwrap(kek, generated->wrapped, Bytes("tenant=demo;context=other"));
  if (wrong || wrong.error().code != kmsd::ErrorCode::kIntegrity) {
    fmt::print(stderr, "FAILED: unwrapping with a different AAD did not fail with integrity\n");
    return 1;
  }
  fmt::print("unwrap with a different AAD refused: {}\n", kmsd::ErrorCodeName(wrong.error().code));

  if (auto st = (*service)->CheckHealth(); !st) return Fail("health check", st.error());
  fmt::print("health check: wrap/unwrap probe OK\ndone\n");
  return 0;
}
