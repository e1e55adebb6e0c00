#include "tests/support/softhsm_token.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <vector>

extern char** environ;

namespace kmsd::testing {
namespace {

// The process-wide SoftHSM configuration; removed at exit with its tokens.
struct Environment {
  TempDir dir{"kmsd-softhsm"};
  std::string conf;
};

Environment& GetEnvironment() {
  static Environment* env = [] {
    auto* e = new Environment();
    const std::string tokens = e->dir.File("tokens");
    std::filesystem::create_directory(tokens);
    e->conf = e->dir.File("softhsm2.conf");
    std::ofstream out(e->conf);
    out << "directories.tokendir = " << tokens << "\n"
        << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
    out.close();
    ::setenv("SOFTHSM2_CONF", e->conf.c_str(), 1);
    // Leaked on purpose; the folder goes at exit.
    std::atexit([] { std::filesystem::remove_all(GetEnvironment().dir.path()); });
    return e;
  }();
  return *env;
}

Secret RandomHex(std::size_t bytes) {
  Secret raw(bytes);
  if (RAND_bytes(raw.mutable_bytes().data(), static_cast<int>(bytes)) != 1) std::abort();
  Secret hex(bytes * 2);
  static const char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    hex.mutable_bytes()[2 * i] = kDigits[raw.expose()[i] >> 4];
    hex.mutable_bytes()[2 * i + 1] = kDigits[raw.expose()[i] & 0xf];
  }
  return hex;
}

// Runs argv with stdout/stderr discarded (softhsm2-util echoes nothing
// secret, but tests keep their logs clean). Returns the exit status or -1.
int RunQuietly(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

bool IsCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::string SoftHsmToken::ConfPath() { return GetEnvironment().conf; }

SoftHsmToken::SoftHsmToken(TempDir dir, std::string label, Secret pin, Secret so_pin)
    : dir_(std::move(dir)),
      label_(std::move(label)),
      pin_(std::move(pin)),
      so_pin_(std::move(so_pin)) {}

std::unique_ptr<SoftHsmToken> SoftHsmToken::Create(CreateError* error) {
  if (::access(kSoftHsmModulePath, R_OK) != 0 || ::access(kSoftHsmUtilPath, X_OK) != 0) {
    error->softhsm_absent = true;
    error->message = std::string("SoftHSM2 not installed (need ") + kSoftHsmModulePath + " and " +
                     kSoftHsmUtilPath + ")";
    return nullptr;
  }
  GetEnvironment();
  static std::atomic<int> counter{0};
  std::string label = "kmsd-t" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  Secret pin = RandomHex(8);
  Secret so_pin = RandomHex(8);
  // Test tokens only: the PINs are on this command line because
  // softhsm2-util has no other non-interactive way to take them.
  const int rc =
      RunQuietly({kSoftHsmUtilPath, "--init-token", "--free", "--label", label, "--pin",
                  std::string(pin.expose_chars()), "--so-pin", std::string(so_pin.expose_chars())});
  if (rc != 0) {
    error->message =
        "softhsm2-util --init-token failed for " + label + " (exit " + std::to_string(rc) + ")";
    return nullptr;
  }
  std::unique_ptr<SoftHsmToken> token(
      new SoftHsmToken(TempDir("kmsd-token"), std::move(label), std::move(pin), std::move(so_pin)));
  token->WritePrivateFile("user.pin", token->pin_.expose_chars());
  token->WritePrivateFile("so.pin", token->so_pin_.expose_chars());
  return token;
}

hsm::TokenConfig SoftHsmToken::Config() const {
  hsm::TokenConfig config;
  config.module_path = module_path_;
  config.token_label = label_;
  config.pin_file = pin_file();
  return config;
}

std::string SoftHsmToken::WritePrivateFile(const std::string& name,
                                           std::string_view content) const {
  const std::string path = dir_.File(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::write(fd, "\n", 1) == 1;
  if (::close(fd) != 0 || !ok) std::abort();
  return path;
}

}  // namespace kmsd::testing
