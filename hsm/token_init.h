// Provisioning a token in the first free (uninitialised) slot of a module:
// C_InitToken with the SO PIN, then C_InitPIN for the user PIN. Used by the
// dev demo (and `kmsd --dev`) so that PINs never appear on a command line.
#pragma once

#include <string_view>

#include "common/result.h"
#include "common/secret.h"
#include "hsm/module.h"

namespace kmsd::hsm {

// Errors: kInvalidArgument (label longer than 32 bytes, empty PIN),
// kNotFound (no uninitialised slot), kHsmUnavailable, kInternal.
Status InitializeToken(Module& module, std::string_view label, const Secret& so_pin,
                       const Secret& user_pin);

}  // namespace kmsd::hsm
