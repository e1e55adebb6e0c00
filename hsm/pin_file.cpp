#include "hsm/pin_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/secret_file.h"

namespace kmsd::hsm {

Result<Secret> ReadPinFile(const std::string& path) {
  auto fail = [&](const char* what) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("PIN file ") + path + ": " + what);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot be opened");
  if (auto mode = CheckSecretFileMode(fd, "PIN file", path); !mode) {
    ::close(fd);
    return mode.error();
  }
  // One byte more than allowed, to detect an oversized file.
  Secret pin(kMaxPinSize + 2);
  std::size_t total = 0;
  while (total < pin.size()) {
    const ssize_t n = ::read(fd, pin.mutable_bytes().data() + total, pin.size() - total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return fail("cannot be read");
    }
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
  pin.truncate(total);
  auto bytes = pin.expose();
  if (!bytes.empty() && bytes.back() == '\n') pin.truncate(pin.size() - 1);
  bytes = pin.expose();
  if (!bytes.empty() && bytes.back() == '\r') pin.truncate(pin.size() - 1);
  if (pin.empty()) return fail("is empty");
  if (pin.size() > kMaxPinSize) return fail("is too long");
  return pin;
}

}  // namespace kmsd::hsm
