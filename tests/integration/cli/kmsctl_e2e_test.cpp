// The main job end to end: a real `kmsd --dev` (SoftHSM2 token, SQLite store,
// audit log) driven by the real kmsctl binary, on a real recording from
// Debian's sound-theme-freedesktop. Skips when SoftHSM2 or the recording is
// missing, but fails under CI=true.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/client/client.h"
#include "cli/kmsctl/exit_codes.h"
#include "fake_daemon.h"
#include "run_process.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace kmsd::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kRecording[] = "/usr/share/sounds/freedesktop/stereo/complete.oga";
constexpr char kSoftHsm[] = "/usr/lib/softhsm/libsofthsm2.so";

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// A `kmsd --dev` child process, stopped with SIGTERM (then SIGKILL) at the end.
class DevDaemon {
 public:
  DevDaemon(const fs::path& data_dir, const fs::path& log) {
    port_ = UnusedPort();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    std::vector<std::string> args{KMSD_PATH,         "--dev",    "--data-dir",
                                  data_dir.string(), "--listen", listen};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~DevDaemon() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(100ms);
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  // Polls /healthz until 200 or the daemon exits or `limit` passes.
  bool WaitHealthy(std::chrono::seconds limit) {
    if (pid_ <= 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      client::ClientOptions options;
      options.url = url_;
      options.connect_timeout = 1s;
      options.request_timeout = 2s;
      auto client = client::Client::Create(std::move(options));
      if (client && (*client)->Call("GET", "/healthz", {})) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  unsigned short port_ = 0;
  std::string url_;
};

class KmsctlE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* needed : {kSoftHsm, kRecording}) {
      if (!fs::exists(needed)) {
        if (InCi()) FAIL() << needed << " is missing (CI=true)";
        GTEST_SKIP() << needed << " is missing";
      }
    }
    data_dir_ = dir_.path() / "data";
    daemon_ = std::make_unique<DevDaemon>(data_dir_, dir_.path() / "kmsd.log");
    ASSERT_TRUE(daemon_->WaitHealthy(120s)) << "kmsd --dev did not become healthy; its output:\n"
                                            << Slurp(dir_.path() / "kmsd.log");
    const auto token = Kmsctl({"dev", "token", "--data-dir", data_dir_.string(), "--tenant", "acme",
                               "--subject", "media-server", "--roles", "encrypt,decrypt,admin"});
    ASSERT_EQ(token.exit_code, 0) << token.err;
    token_ = Trim(token.out);
  }

  ProcessResult Kmsctl(std::vector<std::string> args) {
    std::vector<std::string> argv{KMSCTL_PATH, "--url", daemon_->url()};
    if (!token_.empty()) argv.insert(argv.end(), {"--token", token_});
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }

  std::string Authz(const std::string& context_id, const std::string& ttl = "5m") {
    const auto r = Kmsctl({"dev", "authz", "--data-dir", data_dir_.string(), "--tenant", "acme",
                           "--context-id", context_id, "--ttl=" + ttl});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Trim(r.out);
  }

  std::string EncryptRecording(const fs::path& out) {
    const auto r = Kmsctl({"encrypt-file", kRecording, out.string(), "--asset-type", "recording",
                           "--asset-id", "sounds/complete.oga", "--chunk-size", "4096"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto parsed = boost::json::parse(r.out);
    return std::string(parsed.at("context_id").as_string());
  }

  TempDir dir_{"kmsctl-e2e"};
  fs::path data_dir_;
  std::unique_ptr<DevDaemon> daemon_;
  std::string token_;
};

TEST_F(KmsctlE2eTest, RealRecordingRoundTripsByteForByte) {
  const auto enc = dir_.path() / "complete.kmsenc";
  const auto back = dir_.path() / "complete.oga";
  const std::string context_id = EncryptRecording(enc);
  ASSERT_FALSE(context_id.empty());
  EXPECT_EQ(Slurp(enc).find("OggS"), std::string::npos) << "plaintext Ogg pages in the output";
  const auto dec =
      Kmsctl({"decrypt-file", enc.string(), back.string(), "--authz", Authz(context_id)});
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(Slurp(back), Slurp(kRecording));
}

TEST_F(KmsctlE2eTest, TamperedRecordingIsRefusedWithExitSixAndNoOutput) {
  const auto enc = dir_.path() / "complete.kmsenc";
  const auto back = dir_.path() / "complete.oga";
  const std::string context_id = EncryptRecording(enc);
  {
    std::fstream f(enc, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(10000);
    const char c = static_cast<char>(f.get());
    f.seekp(10000);
    f.put(static_cast<char>(c ^ 0x40));
  }
  const auto dec =
      Kmsctl({"decrypt-file", enc.string(), back.string(), "--authz", Authz(context_id)});
  EXPECT_EQ(dec.exit_code, kmsctl::kExitIntegrity) << dec.err;
  EXPECT_FALSE(fs::exists(back));
}

// A context id changed in the header is named as tampering (exit 6), not as
// a refused authorization token: the token was issued for the original id.
TEST_F(KmsctlE2eTest, ContextIdChangedInTheHeaderIsRefusedAsTampering) {
  const auto enc = dir_.path() / "complete.kmsenc";
  const auto back = dir_.path() / "complete.oga";
  const std::string context_id = EncryptRecording(enc);
  std::string bytes = Slurp(enc);
  const auto at = bytes.find(context_id);
  ASSERT_NE(at, std::string::npos);
  bytes[at + context_id.size() - 1] = bytes[at + context_id.size() - 1] == '0' ? '1' : '0';
  {
    std::ofstream f(enc, std::ios::binary | std::ios::trunc);
    f << bytes;
  }
  const auto dec =
      Kmsctl({"decrypt-file", enc.string(), back.string(), "--authz", Authz(context_id)});
  EXPECT_EQ(dec.exit_code, kmsctl::kExitIntegrity) << dec.err;
  EXPECT_NE(dec.err.find("REFUSED"), std::string::npos) << dec.err;
  EXPECT_NE(dec.err.find("altered"), std::string::npos) << dec.err;
  EXPECT_FALSE(fs::exists(back));
}

// Truncation exactly at a chunk boundary and reordered chunks, through the
// binary: exit 6, "REFUSED", no output file.
TEST_F(KmsctlE2eTest, TruncatedAtAChunkBoundaryOrReorderedIsRefused) {
  const auto enc = dir_.path() / "complete.kmsenc";
  const std::string context_id = EncryptRecording(enc);  // 4 KiB chunks: several
  const std::string bytes = Slurp(enc);
  const std::size_t sealed = 4096 + 16;               // chunk ciphertext + tag
  const std::size_t header = 45 + context_id.size();  // docs/file-format.md
  ASSERT_GT(bytes.size(), header + 3 * sealed);
  const std::string truncated = bytes.substr(0, header + 2 * sealed);
  std::string reordered = bytes;
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(header + sealed),
            bytes.begin() + static_cast<std::ptrdiff_t>(header + 2 * sealed),
            reordered.begin() + static_cast<std::ptrdiff_t>(header));
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(header),
            bytes.begin() + static_cast<std::ptrdiff_t>(header + sealed),
            reordered.begin() + static_cast<std::ptrdiff_t>(header + sealed));
  for (const auto& [name, variant] :
       {std::pair{"truncated", truncated}, {"reordered", reordered}}) {
    const auto bad = dir_.path() / (std::string(name) + ".kmsenc");
    const auto out = dir_.path() / (std::string(name) + ".oga");
    {
      std::ofstream f(bad, std::ios::binary | std::ios::trunc);
      f << variant;
    }
    const auto dec =
        Kmsctl({"decrypt-file", bad.string(), out.string(), "--authz", Authz(context_id)});
    EXPECT_EQ(dec.exit_code, kmsctl::kExitIntegrity) << name << ": " << dec.err;
    EXPECT_NE(dec.err.find("REFUSED"), std::string::npos) << name << ": " << dec.err;
    EXPECT_FALSE(fs::exists(out)) << name;
  }
}

// A rejected policy document: exit 5, and every problem the daemon listed is
// shown with its path, so the operator can fix the file.
TEST_F(KmsctlE2eTest, RejectedPolicyShowsEveryProblemWithItsPath) {
  const auto file = dir_.path() / "bad-policy.json";
  {
    std::ofstream f(file);
    f << R"({"default": "maybe", "rules": [{"id": "r", "effect": "deny", "colour": "red"}]})";
  }
  const auto set = Kmsctl({"policy", "set", file.string()});
  EXPECT_EQ(set.exit_code, kmsctl::kExitRequest) << set.err;
  EXPECT_NE(set.err.find("default: "), std::string::npos) << set.err;
  EXPECT_NE(set.err.find("rules[0]: "), std::string::npos) << set.err;  // the unknown field
  EXPECT_NE(set.err.find("rules[0].operations: "), std::string::npos) << set.err;
}

TEST_F(KmsctlE2eTest, DestroyedRecordExitsThreeWith410) {
  const auto enc = dir_.path() / "complete.kmsenc";
  const std::string context_id = EncryptRecording(enc);
  const auto destroyed = Kmsctl({"records", "destroy", context_id});
  ASSERT_EQ(destroyed.exit_code, 0) << destroyed.err;
  const auto dec = Kmsctl({"decrypt-file", enc.string(), (dir_.path() / "x.oga").string(),
                           "--authz", Authz(context_id)});
  EXPECT_EQ(dec.exit_code, kmsctl::kExitRefused) << dec.err;
  EXPECT_NE(dec.err.find("410"), std::string::npos) << dec.err;
  EXPECT_FALSE(fs::exists(dir_.path() / "x.oga"));
}

TEST_F(KmsctlE2eTest, ExpiredOrReusedAuthorizationTokenExitsThree) {
  const std::string context_id = EncryptRecording(dir_.path() / "c.kmsenc");
  const auto expired = Kmsctl(
      {"datakey", "decrypt", "--context-id", context_id, "--authz", Authz(context_id, "-1m")});
  EXPECT_EQ(expired.exit_code, kmsctl::kExitRefused) << expired.err;
  EXPECT_NE(expired.err.find("invalid_authorization_token"), std::string::npos) << expired.err;
  const std::string once = Authz(context_id);
  EXPECT_EQ(Kmsctl({"datakey", "decrypt", "--context-id", context_id, "--authz", once}).exit_code,
            0);
  EXPECT_EQ(Kmsctl({"datakey", "decrypt", "--context-id", context_id, "--authz", once}).exit_code,
            kmsctl::kExitRefused);
}

TEST_F(KmsctlE2eTest, MissingBearerTokenExitsThreeWithHint) {
  token_.clear();
  const auto r = Kmsctl({"keys", "list"});
  EXPECT_EQ(r.exit_code, kmsctl::kExitRefused) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kmsctl dev token"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kmsd::testing
