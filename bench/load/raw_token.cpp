#include "bench/load/raw_token.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string_view>

#include "bench/load/timed_phase.h"
#include "hsm/dev_token.h"
#include "hsm/pkcs11_key_service.h"

namespace kmsd::bench {
namespace {

constexpr std::string_view kTenant = "bench";
// About the size of the broker's binding AAD (tenant, context id, asset type
// and id, length-prefixed), so the token hashes as much as through the daemon.
constexpr std::string_view kAad =
    "\x05"
    "bench"
    "\x24"
    "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    "\x09"
    "recording"
    "\x20"
    "bench/recordings/2026-12-03-0001";

std::span<const std::uint8_t> AadBytes() {
  return {reinterpret_cast<const std::uint8_t*>(kAad.data()), kAad.size()};
}

int Fail(std::string_view step, const Error& error) {
  fmt::print(stderr, "kmsd-bench raw: {}: {} ({})\n", step, error.message,
             ErrorCodeName(error.code));
  return 1;
}

}  // namespace

int RunRawToken(const RawTokenOptions& options) {
  bool failed = false;
  auto token = hsm::EnsureDevToken(options.dir);
  if (!token) return Fail("token", token.error());
  for (unsigned threads : options.threads) {
    // One session per thread, as the daemon's pool would have at best, up to
    // the pool's limit (64): beyond it threads wait for a session, as the
    // daemon's workers would.
    hsm::TokenConfig config = token->config;
    config.pool_size = std::min<unsigned>(threads, 64);
    auto service = hsm::OpenPkcs11KeyService(config);
    if (!service) return Fail("open", service.error());
    const hsm::KekId kek{std::string(kTenant), 1};
    auto versions = (*service)->ListKekVersions(kTenant);
    if (!versions) return Fail("list KEKs", versions.error());
    if (std::find(versions->begin(), versions->end(), 1u) == versions->end()) {
      if (auto created = (*service)->CreateKek(kek); !created) {
        return Fail("create KEK", created.error());
      }
    }
    auto& keys = **service;
    auto generate = RunThreadedPhase(threads, options.warmup, options.duration, [&](unsigned) {
      return keys.GenerateDataKey(kek, AadBytes()).has_value();
    });
    fmt::print("{}\n", FormatSummaryLine(fmt::format("raw_generate conns={}", threads), generate));

    std::vector<std::vector<std::uint8_t>> wrapped;
    for (int i = 0; i < 256; ++i) {
      auto key = keys.GenerateDataKey(kek, AadBytes());
      if (!key) return Fail("prepare unwrap", key.error());
      wrapped.push_back(std::move(key->wrapped));
    }
    std::vector<std::size_t> next(threads, 0);
    auto unwrap = RunThreadedPhase(threads, options.warmup, options.duration, [&](unsigned w) {
      const auto& blob = wrapped[(w * 31 + next[w]++) % wrapped.size()];
      return keys.Unwrap(kek, blob, AadBytes()).has_value();
    });
    fmt::print("{}\n", FormatSummaryLine(fmt::format("raw_unwrap conns={}", threads), unwrap));
    std::fflush(stdout);
    failed = failed || generate.errors > 0 || unwrap.errors > 0;
  }
  if (failed) fmt::print(stderr, "kmsd-bench raw: token operations failed (errors= above)\n");
  return failed ? 1 : 0;
}

}  // namespace kmsd::bench
