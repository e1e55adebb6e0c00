#include "hsm/dev_token.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "hsm/module.h"
#include "hsm/token_init.h"

namespace kmsd::hsm {
namespace {

namespace fs = std::filesystem;

// A random PIN as 32 hex characters.
Result<Secret> RandomPin() {
  Secret raw(16);
  if (RAND_bytes(raw.mutable_bytes().data(), static_cast<int>(raw.size())) != 1) {
    return MakeError(ErrorCode::kInternal, "no randomness for a PIN");
  }
  Secret hex(32);
  static constexpr char kDigits[] = "0123456789abcdef";
  auto out = hex.mutable_bytes();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    out[2 * i] = kDigits[raw.expose()[i] >> 4];
    out[2 * i + 1] = kDigits[raw.expose()[i] & 0xf];
  }
  return hex;
}

Status WritePrivateFile(const fs::path& path, std::span<const std::uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(ErrorCode::kInternal, "cannot create " + path.string());
  const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
                  ::write(fd, "\n", 1) == 1 && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !ok)
    return MakeError(ErrorCode::kInternal, "cannot write " + path.string());
  return {};
}

}  // namespace

Result<DevToken> EnsureDevToken(const fs::path& dir) {
  if (!fs::exists(kSoftHsmModulePath)) {
    return MakeError(ErrorCode::kNotFound, std::string("SoftHSM2 is not installed (") +
                                               kSoftHsmModulePath + "): apt-get install softhsm2");
  }
  const fs::path conf = dir / "softhsm2.conf";
  const fs::path tokens = dir / "tokens";
  const fs::path pin_file = dir / "token.pin";
  std::error_code ec;
  fs::create_directories(tokens, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "cannot create " + tokens.string());
  fs::permissions(dir, fs::perms::owner_all, ec);
  fs::permissions(tokens, fs::perms::owner_all, ec);
  if (!fs::exists(conf)) {
    const fs::path temp = conf.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << "directories.tokendir = " << tokens.string() << "\n"
          << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
      if (!out.flush()) return MakeError(ErrorCode::kInternal, "cannot write " + temp.string());
    }
    fs::permissions(temp, fs::perms::owner_read | fs::perms::owner_write, ec);
    fs::rename(temp, conf, ec);
    if (ec) return MakeError(ErrorCode::kInternal, "cannot write " + conf.string());
  }
  // SoftHSM reads its configuration at C_Initialize, which has not run yet.
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);

  DevToken token;
  token.config.module_path = kSoftHsmModulePath;
  token.config.token_label = kDevTokenLabel;
  token.config.pin_file = pin_file.string();
  if (fs::exists(pin_file)) return token;

  auto module = Module::Get(kSoftHsmModulePath);
  if (!module) return module.error();
  auto pin = RandomPin();
  auto so_pin = RandomPin();
  if (!pin || !so_pin) return pin ? so_pin.error() : pin.error();
  if (auto st = InitializeToken(**module, kDevTokenLabel, *so_pin, *pin); !st) return st.error();
  // token.pin last: its presence is what marks the token as provisioned.
  if (auto st = WritePrivateFile(dir / "token.so-pin", so_pin->expose()); !st) return st.error();
  if (auto st = WritePrivateFile(pin_file, pin->expose()); !st) return st.error();
  token.created = true;
  return token;
}

}  // namespace kmsd::hsm
