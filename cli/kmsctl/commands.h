// The commands behind kmsctl's command line (app.h parses, this runs).
#pragma once

#include <iosfwd>

#include "cli/kmsctl/app.h"

namespace kmsd::kmsctl {

// Runs settings.command; prints results on `out`, messages on `err`; returns
// the exit code (exit_codes.h). Never throws.
int RunCommand(const Settings& settings, std::ostream& out, std::ostream& err);

}  // namespace kmsd::kmsctl
