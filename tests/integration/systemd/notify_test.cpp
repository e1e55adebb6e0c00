// kmsd started the way systemd/kmsd.service starts it: `kmsd --config FILE`
// with $CREDENTIALS_DIRECTORY holding the token PIN (LoadCredential=),
// $NOTIFY_SOCKET naming an AF_UNIX datagram socket this test binds and reads
// (Type=notify) and, for WatchdogSec=, $WATCHDOG_USEC/$WATCHDOG_PID. A real
// SoftHSM2 token, SQLite store and audit log live in a temp dir; TLS is off
// (allowed on loopback only).
//
// $KMSD_BINARY, when set, names the daemon to run (e.g. the installed
// /usr/bin/kmsd, see scripts/test-packaging.sh); otherwise the built one.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker/jose/signer.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr auto kStartTimeout = std::chrono::seconds(60);

std::string KmsdBinary() {
  const char* installed = std::getenv("KMSD_BINARY");
  return installed != nullptr && *installed != '\0' ? installed : KMSD_PATH;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.flush()) << path;
}

// The receiving end of $NOTIFY_SOCKET, as systemd binds it.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }

  // Every datagram received so far, in order.
  const std::vector<std::string>& messages() const { return messages_; }

  // Reads datagrams until one carries `assignment` (e.g. "READY=1") as a
  // line, or the deadline passes. True when it arrived.
  bool WaitFor(std::string_view assignment, Clock::time_point deadline) {
    std::size_t seen = 0;
    for (;;) {
      for (; seen < messages_.size(); ++seen)
        if (HasLine(messages_[seen], assignment)) return true;
      if (!ReceiveOne(deadline)) return false;
    }
  }

  // Reads every datagram arriving until the deadline.
  void CollectUntil(Clock::time_point deadline) {
    while (ReceiveOne(deadline)) {
    }
  }

  int Count(std::string_view assignment) const {
    int n = 0;
    for (const auto& m : messages_) n += HasLine(m, assignment) ? 1 : 0;
    return n;
  }

  // Drains whatever is queued now (after the sender exited).
  void Drain() {
    while (ReceiveOne(Clock::now())) {
    }
  }

  bool AnyHas(std::string_view assignment) const {
    for (const auto& m : messages_)
      if (HasLine(m, assignment)) return true;
    return false;
  }

  static bool HasLine(const std::string& message, std::string_view assignment) {
    std::istringstream lines(message);
    for (std::string line; std::getline(lines, line);)
      if (line == assignment) return true;
    return false;
  }

 private:
  bool ReceiveOne(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) != 1) return false;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return false;
    messages_.emplace_back(buffer, static_cast<std::size_t>(n));
    return true;
  }

  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> messages_;
};

// One kmsd child process; killed if the test ends while it still runs.
class Daemon {
 public:
  // `extra_env` entries override the inherited environment (NAME=VALUE).
  // With `watchdog_pid`, WATCHDOG_PID is set to the child's own pid, as
  // systemd does. stdout and stderr go to `log_path`.
  Daemon(const std::vector<std::string>& args, std::vector<std::string> extra_env,
         const std::string& log_path, bool watchdog_pid = false) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::string name = entry.substr(0, entry.find('='));
      bool overridden = name == "WATCHDOG_PID";
      for (const auto& extra : extra_env)
        overridden = overridden || extra.substr(0, extra.find('=')) == name;
      if (!overridden) env.push_back(entry);
    }
    for (auto& extra : extra_env) env.push_back(std::move(extra));
    // Filled in by the child with its pid (no allocation after fork).
    std::string watchdog_entry = "WATCHDOG_PID=" + std::string(20, '\0');
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    if (watchdog_pid) envp.push_back(watchdog_entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_storage = args;
    argv_storage.insert(argv_storage.begin(), KmsdBinary());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ == 0) {
      if (watchdog_pid) {
        char* digits = watchdog_entry.data() + std::string_view("WATCHDOG_PID=").size();
        char reversed[20];
        int n = 0;
        for (pid_t v = ::getpid(); v > 0; v /= 10) reversed[n++] = static_cast<char>('0' + v % 10);
        for (int i = 0; i < n; ++i) digits[i] = reversed[n - 1 - i];
      }
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (log >= 0) {
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }

  // The raw wait status once the child exited, or nullopt at the deadline.
  std::optional<int> WaitExit(Clock::time_point deadline) {
    while (!status_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = status;
        break;
      }
      if (Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A TCP port free right now on 127.0.0.1 (the kernel's pick, released).
std::uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Status code of `GET path` over plain HTTP/1.1, or 0 when no answer.
int HttpGetStatus(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char head[64] = {};
      std::size_t got = 0;
      while (got < 12) {
        const ssize_t n = ::recv(fd, head + got, sizeof(head) - 1 - got, 0);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      if (got >= 12 && std::string_view(head, 5) == "HTTP/") status = std::atoi(head + 9);
    }
  }
  ::close(fd);
  return status;
}

class SystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
    fs::create_directories(dir_.path() / "credentials");
    fs::permissions(dir_.path() / "credentials", fs::perms::owner_all);
    pin_ = ReadFile(token_->pin_file());
    ASSERT_FALSE(pin_.empty());
    ASSERT_TRUE(jose::EnsureDevKeyPair(dir_.path() / "idp.key", dir_.path() / "idp.jwks.json",
                                       "idp", jose::Algorithm::kES256));
    port_ = FreeLoopbackPort();
    WriteFile(dir_.path() / "kmsd.toml", ConfigText());
  }

  std::string ConfigText() const {
    const fs::path d = dir_.path();
    std::ostringstream toml;
    toml << "[server]\nlisten = \"127.0.0.1:" << port_ << "\"\n"
         << "[tls]\nenabled = false\n"
         << "[store]\npath = \"" << (d / "state" / "kmsd.db").string() << "\"\n"
         << "[audit]\ndir = \"" << (d / "audit").string() << "\"\n"
         << "[identity]\nissuer = \"https://idp.test/\"\naudience = \"kmsd\"\n"
         << "jwks_file = \"" << (d / "idp.jwks.json").string() << "\"\n"
         << "[[tokens]]\nname = \"main\"\nmodule = \"" << token_->module_path() << "\"\n"
         << "label = \"" << token_->label() << "\"\npin_credential = \"token-pin\"\n";
    return toml.str();
  }

  // What LoadCredential=token-pin:... would have placed.
  void PutPinCredential(const std::string& pin) {
    const auto path = dir_.path() / "credentials" / "token-pin";
    WriteFile(path, pin);
    fs::permissions(path, fs::perms::owner_read);  // 0400, as systemd leaves it
  }

  std::vector<std::string> UnitEnv() const {
    return {"NOTIFY_SOCKET=" + notify_.path(),
            "CREDENTIALS_DIRECTORY=" + (dir_.path() / "credentials").string()};
  }

  std::vector<std::string> UnitArgs() const {
    return {"--config", (dir_.path() / "kmsd.toml").string()};
  }

  std::string LogPath() const { return (dir_.path() / "kmsd.log").string(); }

  std::unique_ptr<SoftHsmToken> token_;
  TempDir dir_{"kmsd-systemd"};
  NotifySocket notify_{(dir_.path() / "notify.sock").string()};
  std::string pin_;
  std::uint16_t port_ = 0;
};

TEST_F(SystemdNotifyTest, WrongPinNeverSignalsReadyThenRightPinDoes) {
  ASSERT_TRUE(notify_.bound());
  PutPinCredential("0000-not-the-pin\n");
  {
    Daemon kmsd(UnitArgs(), UnitEnv(), LogPath());
    const auto status = kmsd.WaitExit(Clock::now() + kStartTimeout);
    ASSERT_TRUE(status.has_value()) << "kmsd kept running with a wrong PIN";
    EXPECT_TRUE(WIFEXITED(*status));
    EXPECT_NE(WEXITSTATUS(*status), 0);
    notify_.Drain();
    EXPECT_FALSE(notify_.AnyHas("READY=1"));
    EXPECT_EQ(HttpGetStatus(port_, "/healthz"), 0) << "something answers on the API port";
    EXPECT_EQ(ReadFile(LogPath()).find("0000-not-the-pin"), std::string::npos);
  }
  // Same config, same everything, only the credential fixed: the PIN was the
  // one reason the first start never became ready.
  PutPinCredential(pin_);
  Daemon kmsd(UnitArgs(), UnitEnv(), LogPath());
  EXPECT_TRUE(notify_.WaitFor("READY=1", Clock::now() + kStartTimeout)) << ReadFile(LogPath());
  EXPECT_EQ(HttpGetStatus(port_, "/readyz"), 200);
}

TEST_F(SystemdNotifyTest, CredentialWithoutCredentialsDirectoryIsRefused) {
  ASSERT_TRUE(notify_.bound());
  Daemon kmsd(UnitArgs(), {"NOTIFY_SOCKET=" + notify_.path(), "CREDENTIALS_DIRECTORY="}, LogPath());
  const auto status = kmsd.WaitExit(Clock::now() + kStartTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  notify_.Drain();
  EXPECT_FALSE(notify_.AnyHas("READY=1"));
}

TEST_F(SystemdNotifyTest, ReadyOnlyWithUsableTokenThenStoppingOnSigterm) {
  ASSERT_TRUE(notify_.bound());
  PutPinCredential(pin_);
  Daemon kmsd(UnitArgs(), UnitEnv(), LogPath());
  ASSERT_TRUE(notify_.WaitFor("READY=1", Clock::now() + kStartTimeout)) << "no READY=1; kmsd log:\n"
                                                                        << ReadFile(LogPath());
  // At READY=1 the token already answered: readiness (token wrap/unwrap,
  // store, audit) passes at once, and the audit signer key came from it.
  EXPECT_EQ(HttpGetStatus(port_, "/readyz"), 200);
  EXPECT_EQ(HttpGetStatus(port_, "/healthz"), 200);
  EXPECT_TRUE(fs::exists(dir_.path() / "audit" / "audit-signer.pub.pem"));
  EXPECT_TRUE(fs::exists(dir_.path() / "state" / "kmsd.db"));
  EXPECT_FALSE(notify_.AnyHas("STOPPING=1"));

  ASSERT_EQ(::kill(kmsd.pid(), SIGTERM), 0);
  EXPECT_TRUE(notify_.WaitFor("STOPPING=1", Clock::now() + std::chrono::seconds(30)));
  const auto status = kmsd.WaitExit(Clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "kmsd did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_EQ(HttpGetStatus(port_, "/healthz"), 0) << "listener still open after exit";
  // The PIN reached kmsd only as a credential file; it is in no output.
  const std::string pin_line = pin_.substr(0, pin_.find('\n'));
  ASSERT_FALSE(pin_line.empty());
  EXPECT_EQ(ReadFile(LogPath()).find(pin_line), std::string::npos);
}

TEST_F(SystemdNotifyTest, WatchdogPingsArriveWhenWatchdogUsecIsSet) {
  ASSERT_TRUE(notify_.bound());
  PutPinCredential(pin_);
  auto env = UnitEnv();
  env.push_back("WATCHDOG_USEC=400000");  // pings expected every 200 ms
  Daemon kmsd(UnitArgs(), env, LogPath(), /*watchdog_pid=*/true);
  ASSERT_TRUE(notify_.WaitFor("READY=1", Clock::now() + kStartTimeout)) << ReadFile(LogPath());
  ASSERT_TRUE(notify_.WaitFor("WATCHDOG=1", Clock::now() + std::chrono::seconds(5)));
  // Pings keep coming, not a single stray one: >= 3 within 1.5 s (period 200 ms).
  notify_.CollectUntil(Clock::now() + std::chrono::milliseconds(1500));
  EXPECT_GE(notify_.Count("WATCHDOG=1"), 3);
  ::kill(kmsd.pid(), SIGTERM);
  const auto status = kmsd.WaitExit(Clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// Without WATCHDOG_USEC (no WatchdogSec=) kmsd sends no pings.
TEST_F(SystemdNotifyTest, NoWatchdogPingsWithoutWatchdogUsec) {
  ASSERT_TRUE(notify_.bound());
  PutPinCredential(pin_);
  Daemon kmsd(UnitArgs(), UnitEnv(), LogPath());
  ASSERT_TRUE(notify_.WaitFor("READY=1", Clock::now() + kStartTimeout)) << ReadFile(LogPath());
  notify_.CollectUntil(Clock::now() + std::chrono::milliseconds(1500));
  EXPECT_FALSE(notify_.AnyHas("WATCHDOG=1"));
  ::kill(kmsd.pid(), SIGTERM);
  ASSERT_TRUE(kmsd.WaitExit(Clock::now() + std::chrono::seconds(30)).has_value());
}

// The shipped /etc/kmsd/kmsd.toml is accepted, and so is it with every
// commented-out optional key switched on: the example names only keys that
// daemon/config.cpp knows, with valid values.
class ShippedExampleConfigTest : public ::testing::Test {
 protected:
  int CheckConfig(const std::string& path) {
    Daemon check({"--check-config", path}, {}, dir_.File("check.log"));
    const auto status = check.WaitExit(Clock::now() + std::chrono::seconds(30));
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }
  TempDir dir_{"kmsd-example"};
};

// A command-line mistake is usage (2), never a CLI11 code that a script
// checking --check-config's 0/1 could misread (it was 114, 108, ...).
TEST_F(ShippedExampleConfigTest, CommandLineMistakesExitTwo) {
  const std::vector<std::vector<std::string>> mistakes = {
      {"--check-config"},
      {"--check-config", KMSD_SOURCE_DIR "/packaging/kmsd.toml", "--dev"},
      {"--no-such-option"}};
  for (const auto& args : mistakes) {
    Daemon kmsd(args, {}, dir_.File("usage.log"));
    const auto status = kmsd.WaitExit(Clock::now() + std::chrono::seconds(30));
    ASSERT_TRUE(status && WIFEXITED(*status)) << args.front();
    EXPECT_EQ(WEXITSTATUS(*status), 2) << args.front() << " " << args.size();
  }
  Daemon help({"--help"}, {}, dir_.File("help.log"));
  const auto status = help.WaitExit(Clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(ShippedExampleConfigTest, ExampleAsShippedPassesCheckConfig) {
  EXPECT_EQ(CheckConfig(KMSD_SOURCE_DIR "/packaging/kmsd.toml"), 0)
      << ReadFile(dir_.File("check.log"));
}

TEST_F(ShippedExampleConfigTest, ExampleWithEveryOptionalKeyEnabledPassesCheckConfig) {
  std::istringstream in(ReadFile(KMSD_SOURCE_DIR "/packaging/kmsd.toml"));
  std::ostringstream out;
  int enabled = 0;
  for (std::string line; std::getline(in, line);) {
    // "# key = value" and "# [[tenants]]" (any table header) are settings;
    // "# # ..." and prose are not.
    const bool setting = line.rfind("# ", 0) == 0 && line.size() > 2 &&
                         ((line.find(" = ") != std::string::npos && line[2] >= 'a' &&
                           line[2] <= 'z' && line.find(' ', 2) == line.find(" = ")) ||
                          line.rfind("# [[", 0) == 0);
    // key_file / pin_file are the alternatives of the active *_credential.
    const bool alternative = line.rfind("# key_file", 0) == 0 || line.rfind("# pin_file", 0) == 0;
    if (setting && !alternative) {
      out << line.substr(2) << "\n";
      ++enabled;
    } else {
      out << line << "\n";
    }
  }
  EXPECT_GE(enabled, 14);  // ops_listen, client_ca_file, the tenant's seven, a client cert's five
  WriteFile(dir_.File("all.toml"), out.str());
  EXPECT_EQ(CheckConfig(dir_.File("all.toml")), 0) << ReadFile(dir_.File("check.log"));
}

// The secret alternatives are valid too (file instead of credential).
TEST_F(ShippedExampleConfigTest, ExampleWithSecretFilesInsteadOfCredentialsPassesCheckConfig) {
  std::string text = ReadFile(KMSD_SOURCE_DIR "/packaging/kmsd.toml");
  for (const std::string key : {"key", "pin"}) {
    const auto active = text.find("\n" + key + "_credential = ");
    ASSERT_NE(active, std::string::npos) << key;
    text.insert(active + 1, "# ");
    const auto alternative = text.find("\n# " + key + "_file = ");
    ASSERT_NE(alternative, std::string::npos) << key;
    text.erase(alternative + 1, 2);
  }
  WriteFile(dir_.File("files.toml"), text);
  EXPECT_EQ(CheckConfig(dir_.File("files.toml")), 0) << ReadFile(dir_.File("check.log"));
}

// The credential names the example config uses are the ones kmsd.service
// loads, and the unit starts kmsd with the example's installed path.
TEST(ShippedUnitTest, UnitLoadsTheCredentialsTheExampleNamesAndRunsItsConfig) {
  const std::string unit = ReadFile(KMSD_SOURCE_DIR "/systemd/kmsd.service");
  const std::string example = ReadFile(KMSD_SOURCE_DIR "/packaging/kmsd.toml");
  ASSERT_FALSE(unit.empty());
  std::vector<std::string> loaded;
  std::istringstream lines(unit);
  for (std::string line; std::getline(lines, line);) {
    const std::string prefix = "LoadCredential=";
    if (line.rfind(prefix, 0) == 0)
      loaded.push_back(line.substr(prefix.size(), line.find(':') - prefix.size()));
  }
  EXPECT_EQ(loaded, (std::vector<std::string>{"token-pin", "tls-key"}));
  EXPECT_NE(example.find("\npin_credential = \"token-pin\"\n"), std::string::npos);
  EXPECT_NE(example.find("\nkey_credential = \"tls-key\"\n"), std::string::npos);
  EXPECT_NE(unit.find("\nExecStart=/usr/bin/kmsd --config /etc/kmsd/kmsd.toml\n"),
            std::string::npos);
  EXPECT_NE(unit.find("\nType=notify\n"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::testing
