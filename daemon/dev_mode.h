// `kmsd --dev`: the embedded default configuration (docs/dev-mode.md).
//
// PrepareDevMode creates, once, everything under DIR — the SoftHSM2 token and
// its PIN, the dev identity-provider and dev storage-server key pairs — and
// returns the Config that serves it: plain HTTP on a loopback address only,
// every tenant provisioned on first use, the dev signer trusted for all. Key
// file names, kids, issuers and the broker id are those of jose::dev.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/config.h"

namespace kmsd::daemon {

inline constexpr std::uint16_t kDevDefaultPort = 8200;
// The dev XKS key store: <listen>/dev/kms/xks/v1, credentials DIR/xks/sigv4-{1,2}.cred.
inline constexpr std::string_view kDevXksPrefix = "/dev";

// `listen` is HOST:PORT; HOST must be a loopback address (kInvalidArgument
// otherwise). Errors: kInvalidArgument, kInternal (files), kNotFound (no SoftHSM2).
Result<Config> PrepareDevMode(const std::filesystem::path& data_dir, std::string_view listen);

}  // namespace kmsd::daemon
