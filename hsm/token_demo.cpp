// kmsd-token-demo: exercises the token end to end (README command 1).
//
// Creates, once, under --data-dir: softhsm2.conf, a token folder, a token
// labelled "kmsd-dev" whose random user PIN is in token.pin (mode 0600; the
// SO PIN in token.so-pin), and a KEK for tenant "demo". Then generates a data
// key, unwraps it, and shows that a different AAD fails with the integrity
// error. Key bytes and PINs are never printed, only SHA-256 fingerprints.
// A second run reuses everything.
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "hsm/module.h"
#include "hsm/pkcs11_key_service.h"
#include "hsm/token_init.h"

namespace {

using kmsd::Secret;
namespace fs = std::filesystem;
namespace hsm = kmsd::hsm;

constexpr const char* kModulePath = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kTokenLabel = "kmsd-dev";

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

// A random PIN as 32 hex characters, in a Secret.
Secret RandomPin() {
  Secret raw(16);
  if (RAND_bytes(raw.mutable_bytes().data(), static_cast<int>(raw.size())) != 1) std::abort();
  Secret hex(32);
  static const char kDigits[] = "0123456789abcdef";
  auto out = hex.mutable_bytes();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    out[2 * i] = kDigits[raw.expose()[i] >> 4];
    out[2 * i + 1] = kDigits[raw.expose()[i] & 0xf];
  }
  return hex;
}

bool WritePrivateFile(const fs::path& path, std::span<const std::uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
                  ::write(fd, "\n", 1) == 1;
  return ::close(fd) == 0 && ok;
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
  const fs::path conf = dir / "softhsm2.conf";
  const fs::path tokens = dir / "tokens";
  const fs::path pin_file = dir / "token.pin";
  std::error_code ec;
  fs::create_directories(tokens, ec);
  if (ec) {
    fmt::print(stderr, "FAILED: cannot create {}\n", tokens.string());
    return 1;
  }
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (!fs::exists(conf)) {
    std::ofstream out(conf);
    out << "directories.tokendir = " << tokens.string() << "\n"
        << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
    fmt::print("created {}\n", conf.string());
  }
  // SoftHSM reads its configuration at C_Initialize, which has not run yet.
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);

  auto module = hsm::Module::Get(kModulePath);
  if (!module) return Fail("loading the PKCS#11 module", module.error());

  if (!fs::exists(pin_file)) {
    Secret pin = RandomPin();
    Secret so_pin = RandomPin();
    if (auto st = hsm::InitializeToken(**module, kTokenLabel, so_pin, pin); !st) {
      return Fail("initialising the token", st.error());
    }
    if (!WritePrivateFile(dir / "token.so-pin", so_pin.expose()) ||
        !WritePrivateFile(pin_file, pin.expose())) {
      fmt::print(stderr, "FAILED: cannot write the PIN files\n");
      return 1;
    }
    fmt::print("initialised token '{}'; user PIN in {} (0600)\n", kTokenLabel, pin_file.string());
  } else {
    fmt::print("reusing token '{}' and {}\n", kTokenLabel, pin_file.string());
  }

  hsm::TokenConfig config;
  config.module_path = kModulePath;
  config.token_label = kTokenLabel;
  config.pin_file = pin_file.string();
  auto service = hsm::OpenPkcs11KeyService(config);
  if (!service) return Fail("opening the key service", service.error());
  fmt::print("opened token '{}': mechanisms present, logged in\n", kTokenLabel);

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
