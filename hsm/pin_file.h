// Reading the token PIN from a file into a wiping Secret.
#pragma once

#include <string>

#include "common/result.h"
#include "common/secret.h"

namespace kmsd::hsm {

inline constexpr std::size_t kMaxPinSize = 256;

// The file's bytes with one trailing "\n" (or "\r\n") removed. The read
// buffer is the Secret itself; nothing else holds the PIN.
// Errors: kInvalidArgument if the file cannot be read, is empty after
// stripping, or is longer than kMaxPinSize. Messages name the path only.
Result<Secret> ReadPinFile(const std::string& path);

}  // namespace kmsd::hsm
