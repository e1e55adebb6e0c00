#include "common/secret_file.h"

#include <fmt/format.h>
#include <sys/stat.h>

namespace kmsd {
namespace {

Status CheckMode(mode_t mode, std::string_view what, std::string_view path) {
  if ((mode & S_IRWXO) == 0) return {};
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("{} {}: readable or writable by others (mode {:04o}): chmod o-rwx",
                               what, path, mode & 07777));
}

}  // namespace

Status CheckSecretFileMode(int fd, std::string_view what, std::string_view path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  return CheckMode(st.st_mode, what, path);
}

Status CheckSecretFileMode(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return CheckMode(st.st_mode, what, path);
}

}  // namespace kmsd
