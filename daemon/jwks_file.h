// The JWKS files the daemon names (identity provider, tenants' storage-server
// signers): read one way at start-up, on reload and by --check-config, so
// that --check-config refuses what the start-up would.
#pragma once

#include <string>

#include "broker/jose/key_set.h"
#include "common/result.h"

namespace kmsd::daemon {

// The file's key set (jose::KeySet::FromJwks: at least one key, each of an
// `allowed` algorithm). kInvalidArgument naming the path, never its contents.
Result<jose::KeySet> ReadJwksFile(const std::string& path, jose::AlgorithmSet allowed);

}  // namespace kmsd::daemon
