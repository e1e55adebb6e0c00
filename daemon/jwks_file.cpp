#include "daemon/jwks_file.h"

#include <fstream>
#include <sstream>

namespace kmsd::daemon {

Result<jose::KeySet> ReadJwksFile(const std::string& path, jose::AlgorithmSet allowed) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidArgument, path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  auto set = jose::KeySet::FromJwks(text.str(), allowed);
  if (!set) return MakeError(set.error().code, path + ": " + set.error().message);
  return set;
}

}  // namespace kmsd::daemon
