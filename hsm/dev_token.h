// The dev-mode token: a SoftHSM2 token kept under a local folder.
//
// EnsureDevToken creates, once, DIR/softhsm2.conf, DIR/tokens/ and a token
// labelled kDevTokenLabel whose random user and SO PINs are written to
// DIR/token.pin and DIR/token.so-pin (0600); later calls reuse them. It sets
// SOFTHSM2_CONF for this process, so it must run before any other code of the
// process initialises the SoftHSM2 module. Used by `kmsd --dev` and the token
// demo. Not for production: the PIN sits next to the token.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "hsm/pkcs11_key_service.h"

namespace kmsd::hsm {

inline constexpr const char* kSoftHsmModulePath = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* kDevTokenLabel = "kmsd-dev";

struct DevToken {
  TokenConfig config;    // module, label, PIN file: ready for OpenPkcs11KeyService
  bool created = false;  // true when this call initialised the token
};

// Errors: kInternal (folder or files cannot be written), kNotFound (SoftHSM2
// not installed), those of InitializeToken.
Result<DevToken> EnsureDevToken(const std::filesystem::path& dir);

}  // namespace kmsd::hsm
