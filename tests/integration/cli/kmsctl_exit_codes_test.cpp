// The real kmsctl binary against FakeDaemon: one exit code per failure class,
// retries on 503 only (attempts counted by the server), file round trips and
// tamper refusal without a daemon.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cli/kmsctl/exit_codes.h"
#include "fake_daemon.h"
#include "run_process.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {
namespace {

using kmsctl::kExitIntegrity;
using kmsctl::kExitOk;
using kmsctl::kExitOther;
using kmsctl::kExitRefused;
using kmsctl::kExitRequest;
using kmsctl::kExitUnavailable;
using kmsctl::kExitUsage;

// A fixed test key, base64 of 32 bytes 0x00..0x1f.
constexpr char kKeyB64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

ProcessResult Kmsctl(const std::string& url, std::vector<std::string> args) {
  args.insert(args.begin(), {KMSCTL_PATH, "--url", url, "--token", "test-token"});
  return RunProcess(args);
}

ProcessResult Generate(const FakeDaemon& daemon) {
  return Kmsctl(daemon.url(),
                {"datakey", "generate", "--asset-type", "recording", "--asset-id", "m/1"});
}

FakeDaemon::Handler Always(int status, std::string code) {
  return [=](const FakeRequest&) { return FakeReply{status, FakeDaemon::ErrorBody(code)}; };
}

struct ClassCase {
  int status;
  const char* code;
  int exit_code;
};

class ExitCodeClassTest : public ::testing::TestWithParam<ClassCase> {};

TEST_P(ExitCodeClassTest, StatusMapsToExitCodeWithoutRetry) {
  const auto c = GetParam();
  FakeDaemon daemon(Always(c.status, c.code));
  const auto result = Generate(daemon);
  EXPECT_EQ(result.exit_code, c.exit_code) << result.err;
  EXPECT_EQ(daemon.requests(), 1) << "only 503 is retried";
  EXPECT_TRUE(result.out.empty());
  EXPECT_NE(result.err.find(std::to_string(c.status)), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("test-token"), std::string::npos) << "token leaked to stderr";
}

INSTANTIATE_TEST_SUITE_P(Classes, ExitCodeClassTest,
                         ::testing::Values(ClassCase{400, "invalid_request", kExitRequest},
                                           ClassCase{401, "unauthenticated", kExitRefused},
                                           ClassCase{403, "forbidden", kExitRefused},
                                           ClassCase{403, "policy_denied", kExitRefused},
                                           ClassCase{404, "not_found", kExitRefused},
                                           ClassCase{409, "conflict", kExitRequest},
                                           ClassCase{410, "key_destroyed", kExitRefused},
                                           ClassCase{413, "payload_too_large", kExitRequest},
                                           ClassCase{429, "rate_limited", kExitUnavailable},
                                           ClassCase{500, "internal", kExitOther},
                                           ClassCase{500, "integrity_error", kExitIntegrity},
                                           ClassCase{502, "bad_gateway", kExitUnavailable}));

TEST(KmsctlRetryTest, PersistentServiceUnavailableIsRetriedBoundedThenExitsFour) {
  FakeDaemon daemon(Always(503, "hsm_unavailable"));
  const auto result = Generate(daemon);
  EXPECT_EQ(result.exit_code, kExitUnavailable) << result.err;
  EXPECT_EQ(daemon.requests(), 4);  // RetryPolicy::max_attempts
  EXPECT_NE(result.err.find("503 hsm_unavailable"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("4 attempt"), std::string::npos) << result.err;
}

TEST(KmsctlRetryTest, TransientServiceUnavailableIsRetriedUntilSuccess) {
  std::atomic<int> calls{0};
  FakeDaemon daemon([&](const FakeRequest&) {
    if (++calls <= 2) return FakeReply{503, FakeDaemon::ErrorBody("store_unavailable")};
    return FakeReply{201, std::string(R"({"context_id":"c-1","plaintext_key":")") + kKeyB64 +
                              R"(","key_version":1,"created_at":"2026-12-03T00:00:00Z"})"};
  });
  const auto result = Generate(daemon);
  EXPECT_EQ(result.exit_code, kExitOk) << result.err;
  EXPECT_EQ(daemon.requests(), 3);
  EXPECT_NE(result.out.find(R"("context_id":"c-1")"), std::string::npos) << result.out;
}

TEST(KmsctlTransportTest, ConnectionRefusedExitsFourWithAHint) {
  const auto result = Kmsctl("http://127.0.0.1:" + std::to_string(UnusedPort()), {"keys", "list"});
  EXPECT_EQ(result.exit_code, kExitUnavailable) << result.err;
  EXPECT_NE(result.err.find("kmsd --dev"), std::string::npos) << result.err;
}

TEST(KmsctlTransportTest, ConnectionDroppedWithoutReplyExitsFour) {
  FakeDaemon daemon([](const FakeRequest&) { return FakeReply{200, "", false, /*drop=*/true}; });
  const auto result = Generate(daemon);
  EXPECT_EQ(result.exit_code, kExitUnavailable) << result.err;
  EXPECT_EQ(daemon.requests(), 1);
}

TEST(KmsctlUsageTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunProcess({KMSCTL_PATH, "datakey", "generate"}).exit_code, kExitUsage);
  EXPECT_EQ(RunProcess({KMSCTL_PATH, "no-such-command"}).exit_code, kExitUsage);
  EXPECT_EQ(RunProcess({KMSCTL_PATH, "--url", "ftp://x", "keys", "list"}).exit_code, kExitUsage);
  EXPECT_EQ(RunProcess({KMSCTL_PATH, "--help"}).exit_code, kExitOk);
}

TEST(KmsctlRequestTest, SendsBearerTokenAndEnvUrl) {
  std::string seen_auth, seen_target, seen_method;
  FakeDaemon daemon([&](const FakeRequest& r) {
    seen_auth = r.authorization;
    seen_target = r.target;
    seen_method = r.method;
    return FakeReply{204, ""};
  });
  const auto result = RunProcess({KMSCTL_PATH, "records", "destroy", "ctx/1"},
                                 {"KMSD_URL=" + daemon.url(), "KMSD_TOKEN=env-token"});
  EXPECT_EQ(result.exit_code, kExitOk) << result.err;
  EXPECT_EQ(seen_auth, "Bearer env-token");
  EXPECT_EQ(seen_method, "DELETE");
  EXPECT_EQ(seen_target, "/v1/records/ctx%2F1");
}

// A daemon stand-in that hands out one fixed key for generate and decrypt.
FakeDaemon::Handler FixedKeyDaemon() {
  return [](const FakeRequest& r) {
    if (r.target == "/v1/datakeys") {
      return FakeReply{201, std::string(R"({"context_id":"ctx-file","plaintext_key":")") + kKeyB64 +
                                R"(","key_version":1,"created_at":"2026-12-03T00:00:00Z"})"};
    }
    if (r.target == "/v1/datakeys/decrypt") {
      if (r.body.find(R"("context_id":"ctx-file")") == std::string::npos) {
        return FakeReply{404, FakeDaemon::ErrorBody("not_found")};
      }
      return FakeReply{
          200,
          std::string(R"({"context_id":"ctx-file","plaintext_key":")") + kKeyB64 +
              R"(","asset_type":"recording","asset_id":"a","created_at":"2026-12-03T00:00:00Z"})"};
    }
    return FakeReply{404, FakeDaemon::ErrorBody("not_found")};
  };
}

class KmsctlFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(7);
    std::ofstream out(Path("plain.bin"), std::ios::binary);
    for (int i = 0; i < 300000; ++i) out.put(static_cast<char>(rng()));
  }
  std::string Path(const char* name) const { return dir_.File(name); }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  TempDir dir_{"kmsctl-file"};
  FakeDaemon daemon_{FixedKeyDaemon()};
};

TEST_F(KmsctlFileTest, EncryptThenDecryptRoundTrips) {
  auto enc =
      Kmsctl(daemon_.url(), {"encrypt-file", Path("plain.bin"), Path("c.kmsenc"),
                             "--asset-type=recording", "--asset-id=a", "--chunk-size=65536"});
  ASSERT_EQ(enc.exit_code, kExitOk) << enc.err;
  EXPECT_EQ(enc.out, "{\"context_id\":\"ctx-file\"}\n");
  auto dec = Kmsctl(daemon_.url(),
                    {"decrypt-file", Path("c.kmsenc"), Path("back.bin"), "--authz", "authz-token"});
  ASSERT_EQ(dec.exit_code, kExitOk) << dec.err;
  EXPECT_EQ(Slurp(Path("back.bin")), Slurp(Path("plain.bin")));
}

TEST_F(KmsctlFileTest, TamperedFileExitsSixAndWritesNothing) {
  ASSERT_EQ(Kmsctl(daemon_.url(), {"encrypt-file", Path("plain.bin"), Path("c.kmsenc"),
                                   "--asset-type", "recording", "--asset-id", "a"})
                .exit_code,
            kExitOk);
  {
    std::fstream f(Path("c.kmsenc"), std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(5000);
    const char c = static_cast<char>(f.get());
    f.seekp(5000);
    f.put(static_cast<char>(c ^ 0x01));
  }
  auto dec = Kmsctl(daemon_.url(),
                    {"decrypt-file", Path("c.kmsenc"), Path("back.bin"), "--authz", "authz-token"});
  EXPECT_EQ(dec.exit_code, kExitIntegrity) << dec.err;
  EXPECT_FALSE(std::filesystem::exists(Path("back.bin")));
  EXPECT_NE(dec.err.find("REFUSED"), std::string::npos) << dec.err;
}

TEST_F(KmsctlFileTest, TruncatedFileExitsSixAndWritesNothing) {
  ASSERT_EQ(Kmsctl(daemon_.url(), {"encrypt-file", Path("plain.bin"), Path("c.kmsenc"),
                                   "--asset-type", "recording", "--asset-id", "a"})
                .exit_code,
            kExitOk);
  std::filesystem::resize_file(Path("c.kmsenc"), std::filesystem::file_size(Path("c.kmsenc")) - 1);
  auto dec = Kmsctl(daemon_.url(),
                    {"decrypt-file", Path("c.kmsenc"), Path("back.bin"), "--authz", "authz-token"});
  EXPECT_EQ(dec.exit_code, kExitIntegrity) << dec.err;
  EXPECT_FALSE(std::filesystem::exists(Path("back.bin")));
}

TEST_F(KmsctlFileTest, NotAnEncryptedFileExitsSixWithoutAskingTheDaemon) {
  auto dec = Kmsctl(daemon_.url(), {"decrypt-file", Path("plain.bin"), Path("back.bin"), "--authz",
                                    "authz-token"});
  EXPECT_EQ(dec.exit_code, kExitIntegrity) << dec.err;
  EXPECT_EQ(daemon_.requests(), 0);
  EXPECT_FALSE(std::filesystem::exists(Path("back.bin")));
}

// An output that cannot be written is found before the daemon is asked: a
// key record for it would protect nothing, and a decrypt would spend the
// authorization token for nothing.
TEST_F(KmsctlFileTest, UnwritableOutputExitsTwoWithoutAskingTheDaemon) {
  ASSERT_EQ(Kmsctl(daemon_.url(), {"encrypt-file", Path("plain.bin"), Path("c.kmsenc"),
                                   "--asset-type", "recording", "--asset-id", "a"})
                .exit_code,
            kExitOk);
  const int asked = daemon_.requests();
  const std::string no_dir = Path("missing-dir") + "/out";
  for (const std::string& out : {no_dir, dir_.path().string()}) {
    auto enc = Kmsctl(daemon_.url(), {"encrypt-file", Path("plain.bin"), out, "--asset-type",
                                      "recording", "--asset-id", "a"});
    EXPECT_EQ(enc.exit_code, kExitUsage) << enc.err;
    EXPECT_NE(enc.err.find(out), std::string::npos) << enc.err;
    auto dec = Kmsctl(daemon_.url(), {"decrypt-file", Path("c.kmsenc"), out, "--authz", "t"});
    EXPECT_EQ(dec.exit_code, kExitUsage) << dec.err;
  }
  EXPECT_EQ(daemon_.requests(), asked);
  EXPECT_FALSE(std::filesystem::exists(no_dir));
}

// A reply's words reach stderr with control characters escaped: no forged
// "kmsctl:" line, no terminal escape sequence.
TEST(KmsctlOutputTest, ServerTextCannotForgeLinesOrSteerTheTerminal) {
  FakeDaemon daemon([](const FakeRequest&) {
    return FakeReply{401, R"({"error":{"code":"unauthenticated","message":)"
                          R"("\u001b[31mred\nkmsctl: forged line"}})"};
  });
  const auto result = Generate(daemon);
  EXPECT_EQ(result.exit_code, kExitRefused) << result.err;
  EXPECT_EQ(result.err.find('\x1b'), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("\nkmsctl: forged"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("\\x1b[31mred\\x0akmsctl: forged line"), std::string::npos)
      << result.err;
}

// A token that would reshape the request's header is refused before any
// request: usage exit 2, and the daemon sees nothing.
TEST(KmsctlOutputTest, BearerTokenWithALineBreakIsRefusedLocally) {
  FakeDaemon daemon(Always(200, "unused"));
  for (const char* token : {"abc\nX-Injected: 1", "abc def", "abc\r"}) {
    auto result =
        RunProcess({KMSCTL_PATH, "--url", daemon.url(), "--token", token, "keys", "list"});
    EXPECT_EQ(result.exit_code, kExitUsage) << result.err;
    EXPECT_NE(result.err.find("bearer token"), std::string::npos) << result.err;
  }
  EXPECT_EQ(daemon.requests(), 0);
}

// A 200 that is not JSON is not the contract's reply: exit 1, nothing printed.
TEST(KmsctlOutputTest, ReplyThatIsNotJsonExitsOne) {
  FakeDaemon daemon([](const FakeRequest&) { return FakeReply{200, "<html>hi</html>"}; });
  const auto result = Kmsctl(daemon.url(), {"keys", "list"});
  EXPECT_EQ(result.exit_code, kExitOther) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_NE(result.err.find("not JSON"), std::string::npos) << result.err;
}

TEST(KmsctlAuditVerifyTest, MissingPathIsNamedNotTheKeyDerivedFromIt) {
  const auto result = RunProcess({KMSCTL_PATH, "audit", "verify", "/nonexistent/audit"});
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_NE(result.err.find("cannot read audit path /nonexistent/audit"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("public key"), std::string::npos) << result.err;
}

// An audit file emptied to zero bytes verified as "ok: 0 events". It is now
// "empty" with a warning (a fresh daemon's log is empty too), and fails
// under --strict.
TEST(KmsctlAuditVerifyTest, EmptyAuditFileWarnsAndFailsUnderStrict) {
  TempDir dir{"kmsctl-verify"};
  // Any P-256 public key: verification fails before a signature is checked.
  const std::string key_file = dir.File("signer.pub.pem");
  std::ofstream(key_file) << "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEacoINMzxIyuf0SACC/yEKJZVjHXu\n"
                             "SwYTaHY525ZAqnM2orZQ+Y10Fll3+ykh3DI5xnQdSDFD656+d/4SOnrJ/w==\n"
                             "-----END PUBLIC KEY-----\n";
  const std::string audit_file = dir.File("audit-000001.jsonl");
  std::ofstream{audit_file};
  const auto result =
      RunProcess({KMSCTL_PATH, "audit", "verify", "--public-key", key_file, audit_file});
  EXPECT_EQ(result.exit_code, kExitOk) << result.out << result.err;
  EXPECT_TRUE(result.out.starts_with("empty: ")) << result.out;
  EXPECT_EQ(result.out.find("ok:"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("warning: the audit files hold no line"), std::string::npos)
      << result.err;
  const auto strict = RunProcess(
      {KMSCTL_PATH, "audit", "verify", "--strict", "--public-key", key_file, audit_file});
  EXPECT_EQ(strict.exit_code, kExitIntegrity) << strict.out << strict.err;
}

}  // namespace
}  // namespace kmsd::testing
