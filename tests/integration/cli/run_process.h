// RunProcess: runs a program to completion with its stdout and stderr
// captured (via files in a scratch dir), for tests that drive the real
// kmsctl binary. KMSD_URL and KMSD_TOKEN are removed from its environment
// unless given in `env`.
#pragma once

#include <string>
#include <vector>

namespace kmsd::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});

}  // namespace kmsd::testing
