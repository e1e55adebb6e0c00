// A ProgressFn for command-line tools: a one-line percentage on stderr,
// redrawn in place, only when stderr is a terminal. The library itself never
// prints; kmsctl passes this to EncryptFile / DecryptFile.
#pragma once

#include <string>

#include "cli/recording/file_crypto.h"

namespace kmsd::recording {

// Returns an empty ProgressFn when stderr is not a terminal (isatty), so that
// scripts and logs get no control characters. Otherwise the callback prints
// "<label>: NN% (X / Y MiB)" at most once per whole percent, and a newline
// when done reaches total. Not thread-safe: call from one thread (the
// pipeline calls it from the caller's thread).
ProgressFn TerminalProgress(std::string label);

// The line TerminalProgress draws, without control characters (for tests).
std::string ProgressLine(const std::string& label, std::uint64_t done, std::uint64_t total);

}  // namespace kmsd::recording
