// What kmsctl may read from an authorization token without verifying it: the
// `ctx` claim, to tell a user before asking the daemon that an encrypted
// file's header names another context than the token was issued for (the
// header was altered, or the token is for another file). Only a hint: the
// daemon verifies the token and decides.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kmsd::kmsctl {

// The `ctx` string claim of a compact JWS's payload; nullopt when the token
// is not three segments, its payload is not base64url JSON, or has no ctx.
std::optional<std::string> UnverifiedContextClaim(std::string_view compact_jws);

}  // namespace kmsd::kmsctl
