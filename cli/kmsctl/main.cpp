// kmsctl: the command-line client of kmsd (docs/kmsctl.md).
#include <iostream>
#include <string>
#include <vector>

#include "cli/kmsctl/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return kmsd::kmsctl::RunKmsctl(args, std::cout, std::cerr);
}
