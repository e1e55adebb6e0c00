// End-to-end tests of the AWS XKS proxy front (docs/xks.md): a real
// `kmsd --config FILE` on 127.0.0.1 with a fresh SoftHSM2 token, SQLite store
// and audit log, driven by `curl --aws-sigv4 "aws:amz:REGION:kms-xks-proxy"`
// (curl signs, kmsd verifies: the signer is not ours). Every route and every
// errorName of the specification's table that kmsd can produce is checked,
// with a 4,096-byte plaintext under 8,192 bytes of AAD, the 5-minute clock
// skew, two credentials, a SIGHUP credential rotation, the audit trail and
// mutual TLS with a subject-name allow-list.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker/jose/signer.h"
#include "common/base64.h"
#include "tests/integration/http/test_pki.h"
#include "tests/support/dev_daemon.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace kmsd::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Bytes = std::vector<std::uint8_t>;

constexpr const char* kPrefix = "/example/uri/path/prefix";
constexpr const char* kRegion = "us-east-1";
constexpr const char* kCred1 =
    "AKIDONEAAAAAAAAAAAAAAAAA:first-secret-of-the-key-store-0123456789abcdef";
constexpr const char* kCred2 =
    "AKIDTWOBBBBBBBBBBBBBBBBB:second-secret-of-the-key-store-0123456789abcde";
constexpr const char* kCredOther =
    "AKIDOTHERCCCCCCCCCCCCCCC:secret-of-another-key-store-0123456789abcdefg";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

Bytes RandomBytes(std::size_t n) {
  Bytes out(n);
  RAND_bytes(out.data(), static_cast<int>(n));
  return out;
}

std::string B64(const Bytes& b) { return Base64Encode(b); }
std::string B64(std::string_view s) {
  return Base64Encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}
Bytes UnB64(std::string_view s) { return Base64Decode(s).value(); }

// A kmsd child process; stdout/stderr to `log`.
class Kmsd {
 public:
  Kmsd(const fs::path& config, fs::path log) : log_(std::move(log)) {
    std::vector<std::string> args{KMSD_PATH, "--config", config.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Kmsd() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Kmsd(const Kmsd&) = delete;
  Kmsd& operator=(const Kmsd&) = delete;

  // Waits for the "ready" log line (or `count` of them, after reloads).
  bool WaitForLog(std::string_view line, int count = 1) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pid_ <= 0 || waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      const std::string text = ReadFile(log_);
      int seen = 0;
      for (auto pos = text.find(line); pos != std::string::npos; pos = text.find(line, pos + 1))
        ++seen;
      if (seen >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  std::string log() const { return ReadFile(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

struct Reply {
  int status = 0;  // 0: no HTTP reply (connection or TLS failure)
  std::string body;
  json::object object() const {
    auto v = json::parse(body);
    return v.is_object() ? v.as_object() : json::object{};
  }
  std::string error_name() const {
    auto o = object();
    return o.contains("errorName") ? std::string(o.at("errorName").as_string()) : "";
  }
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct CurlOptions {
  std::string credential = kCred1;
  std::string region = kRegion;
  std::string method = "POST";
  std::string content_type = "application/json";
  bool sign = true;
  std::vector<std::string> extra;  // further curl arguments
  std::string wrapper;             // command run in front of curl, e.g. faketime
};

class XksE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
    ASSERT_TRUE(jose::EnsureDevKeyPair(dir_.path() / "idp.key", dir_.path() / "idp.jwks.json",
                                       "idp", jose::Algorithm::kES256));
    WriteFile(dir_.path() / "cred1", std::string(kCred1) + "\n");
    WriteFile(dir_.path() / "cred2", std::string(kCred2) + "\n");
    WriteFile(dir_.path() / "cred-other", std::string(kCredOther) + "\n");
    WriteFile(dir_.path() / "policy.json", kPolicy);
  }

  // The "test" store's secondary authorization (docs/policy.md language).
  static constexpr const char* kPolicy = R"({"default":"allow","rules":[
    {"id":"no-decrypt-for-bob","effect":"deny","operations":["decrypt"],
     "principals":["arn:aws:iam::123456789012:user/Bob"]},
    {"id":"no-gdk-without-plaintext","effect":"deny","operations":["encrypt"],
     "asset_types":["generatedatakeywithoutplaintext"]}]})";

  // Keys: "both", "encrypt-only", "decrypt-only", "no-usage", "disabled" and
  // "restricted" share one token key ("xks-main", created at start-up);
  // "absent" names a label the token does not have.
  std::string ConfigText(const std::string& tls) const {
    const fs::path d = dir_.path();
    std::ostringstream t;
    t << "[server]\nlisten = \"127.0.0.1:" << port_ << "\"\n"
      << tls << "[store]\npath = \"" << (d / "kmsd.db").string() << "\"\n"
      << "[audit]\ndir = \"" << (d / "audit").string() << "\"\n"
      << "[identity]\nissuer = \"https://idp.test/\"\naudience = \"kmsd\"\n"
      << "jwks_file = \"" << (d / "idp.jwks.json").string() << "\"\n"
      << "[[tokens]]\nname = \"hsm\"\nmodule = \"" << token_->module_path() << "\"\n"
      << "label = \"" << token_->label() << "\"\npin_file = \"" << token_->pin_file() << "\"\n"
      << "[xks]\nekm_vendor = \"SoftHSM\"\n"
      << "[[xks.key_stores]]\nname = \"test\"\nuri_path_prefix = \"" << kPrefix << "\"\n"
      << "region = \"" << kRegion << "\"\n"
      << "credentials = [{ sigv4_file = \"" << (d / "cred1").string() << "\" }, { sigv4_file = \""
      << (d / "cred2").string() << "\" }]\n"
      << "policy_file = \"" << (d / "policy.json").string() << "\"\n";
    auto key = [&](const char* id, const char* label, const char* extra) {
      t << "[[xks.key_stores.keys]]\nid = \"" << id << "\"\ntoken = \"hsm\"\nlabel = \"" << label
        << "\"\n"
        << extra;
    };
    key("both", "xks-main", "create_if_missing = true\n");
    key("encrypt-only", "xks-main", "operations = [\"encrypt\"]\n");
    key("decrypt-only", "xks-main", "operations = [\"decrypt\"]\n");
    key("no-usage", "xks-main", "operations = []\n");
    key("disabled", "xks-main", "enabled = false\n");
    key("restricted", "xks-main",
        "allowed_principals = [\"arn:aws:iam::123456789012:role/Kms*\"]\n");
    key("absent", "xks-not-in-token", "");
    t << "[[xks.key_stores]]\nname = \"other\"\nuri_path_prefix = \"/other\"\n"
      << "credentials = [{ sigv4_file = \"" << (d / "cred-other").string() << "\" }]\n"
      << "[[xks.key_stores.keys]]\nid = \"both\"\ntoken = \"hsm\"\nlabel = \"xks-main\"\n"
      << "[[xks.key_stores]]\nname = \"throttled\"\nuri_path_prefix = \"/throttled\"\n"
      << "rate_limit_rps = 0.2\nrate_limit_burst = 2\n"
      << "credentials = [{ sigv4_file = \"" << (d / "cred1").string() << "\" }]\n";
    return t.str();
  }

  void Start(const std::string& tls = "[tls]\nenabled = false\n") {
    port_ = UnusedLoopbackPort();
    WriteFile(dir_.path() / "kmsd.toml", ConfigText(tls));
    kmsd_ = std::make_unique<Kmsd>(dir_.path() / "kmsd.toml", dir_.path() / "kmsd.log");
    ASSERT_TRUE(kmsd_->WaitForLog("kmsd ready on port")) << kmsd_->log();
    scheme_ = tls.find("enabled = false") == std::string::npos ? "https" : "http";
  }

  Reply Curl(const std::string& path, const std::string& body, const CurlOptions& o = {}) {
    const fs::path body_file = dir_.path() / "request.json";
    WriteFile(body_file, body);
    const fs::path out_file = dir_.path() / "reply.json";
    fs::remove(out_file);
    std::string cmd = (o.wrapper.empty() ? "" : o.wrapper + " ") + "curl -s -S -o " +
                      out_file.string() + " -w '%{http_code}' -X " + o.method;
    if (o.sign) {
      cmd += " --aws-sigv4 " + Quote("aws:amz:" + o.region + ":kms-xks-proxy") + " --user " +
             Quote(o.credential);
    }
    if (!o.content_type.empty()) cmd += " -H " + Quote("Content-Type: " + o.content_type);
    if (o.method == "POST") cmd += " --data-binary @" + body_file.string();
    for (const auto& e : o.extra) cmd += " " + e;
    cmd += " " + Quote(scheme_ + "://127.0.0.1:" + std::to_string(port_) + path) + " 2>/dev/null";
    Reply reply;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[16] = {};
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
      ::pclose(p);
      reply.status = std::atoi(std::string(buf, n).c_str());
    }
    reply.body = ReadFile(out_file);
    return reply;
  }

  static std::string Meta(const std::string& operation, const std::string& principal,
                          const std::string& request_id = "req-1") {
    json::object m{{"awsPrincipalArn", principal},
                   {"kmsKeyArn", "arn:aws:kms:us-east-1:123456789012:key/1234"},
                   {"kmsOperation", operation},
                   {"kmsRequestId", request_id},
                   {"kmsViaService", "ebs"}};
    return json::serialize(m);
  }

  static std::string EncryptBody(
      const std::string& plaintext_b64, const std::string& aad_b64, bool cdiv = false,
      const std::string& principal = "arn:aws:iam::123456789012:user/Alice",
      const std::string& request_id = "req-enc") {
    json::object b{{"requestMetadata", json::parse(Meta("Encrypt", principal, request_id))},
                   {"plaintext", plaintext_b64},
                   {"encryptionAlgorithm", "AES_GCM"}};
    if (!aad_b64.empty()) b["additionalAuthenticatedData"] = aad_b64;
    if (cdiv) b["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256";
    return json::serialize(b);
  }

  static std::string DecryptBody(
      const json::object& sealed, const std::string& aad_b64,
      const std::string& principal = "arn:aws:iam::123456789012:user/Alice") {
    json::object b{{"requestMetadata", json::parse(Meta("Decrypt", principal, "req-dec"))},
                   {"encryptionAlgorithm", "AES_GCM"}};
    for (const char* field :
         {"ciphertext", "ciphertextMetadata", "initializationVector", "authenticationTag"}) {
      if (sealed.contains(field)) b[field] = sealed.at(field);
    }
    if (!aad_b64.empty()) b["additionalAuthenticatedData"] = aad_b64;
    return json::serialize(b);
  }

  static std::string Key(const std::string& id, const std::string& op) {
    return std::string(kPrefix) + "/kms/xks/v1/keys/" + id + "/" + op;
  }
  static std::string Health(const std::string& prefix = kPrefix) {
    return prefix + "/kms/xks/v1/health";
  }
  static std::string HealthBody() {
    return R"({"requestMetadata":{"kmsRequestId":"h-1","kmsOperation":"KmsHealthCheck"}})";
  }

  // Encrypts `plaintext` with AAD under "both"; the reply object.
  json::object Seal(const Bytes& plaintext, const Bytes& aad, bool cdiv = false) {
    const Reply r = Curl(Key("both", "encrypt"),
                         EncryptBody(B64(plaintext), aad.empty() ? "" : B64(aad), cdiv));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.object();
  }

  std::unique_ptr<SoftHsmToken> token_;
  TempDir dir_{"kmsd-xks-e2e"};
  std::uint16_t port_ = 0;
  std::string scheme_ = "http";
  std::unique_ptr<Kmsd> kmsd_;
};

TEST_F(XksE2eTest, HealthIsDeepAndReportsTheFleet) {
  Start();
  const Reply r = Curl(Health(), HealthBody());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find('\n'), std::string::npos) << "single-line JSON";
  const auto o = r.object();
  EXPECT_EQ(o.at("xksProxyFleetSize").as_int64(), 1);
  EXPECT_EQ(o.at("xksProxyVendor").as_string(), "kmsd");
  EXPECT_EQ(o.at("ekmVendor").as_string(), "SoftHSM");
  const auto& fleet = o.at("ekmFleetDetails").as_array();
  ASSERT_EQ(fleet.size(), 1u);
  EXPECT_EQ(fleet[0].at("id").as_string(), "hsm");
  EXPECT_EQ(fleet[0].at("healthStatus").as_string(), "ACTIVE");
  // Health takes no secondary authorization and needs only its two fields.
  EXPECT_EQ(Curl(Health(), R"({"requestMetadata":{"kmsRequestId":"x"}})").error_name(),
            "ValidationException");
}

// A signed caller cannot forge log lines or terminal sequences through the
// request fields kmsd logs (kmsRequestId).
TEST_F(XksE2eTest, RequestFieldsCannotInjectLogLines) {
  Start();
  const Reply r =
      Curl(Health(), R"({"requestMetadata":{"kmsRequestId":"h-2\n[2026-12-04 06:00:00.000] )"
                     R"([critical] FORGED\u001b[31m","kmsOperation":"KmsHealthCheck"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string log = kmsd_->log();
  EXPECT_EQ(log.find("\n[2026-12-04 06:00:00.000] [critical] FORGED"), std::string::npos) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << "an escape byte reached the log";
  EXPECT_NE(log.find("kmsRequestId=h-2?"), std::string::npos) << log;
}

TEST_F(XksE2eTest, MetadataReportsUsageAndStatus) {
  Start();
  const std::string body =
      "{\"requestMetadata\":" + Meta("DescribeKey", "arn:aws:iam::1:user/A") + "}";
  const Reply both = Curl(Key("both", "metadata"), body);
  ASSERT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(both.body,
            R"({"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"})");
  EXPECT_EQ(Curl(Key("encrypt-only", "metadata"), body).body,
            R"({"keySpec":"AES_256","keyUsage":["ENCRYPT"],"keyStatus":"ENABLED"})");
  EXPECT_EQ(Curl(Key("decrypt-only", "metadata"), body).body,
            R"({"keySpec":"AES_256","keyUsage":["DECRYPT"],"keyStatus":"ENABLED"})");
  EXPECT_EQ(Curl(Key("no-usage", "metadata"), body).body,
            R"({"keySpec":"AES_256","keyUsage":[],"keyStatus":"ENABLED"})");
  EXPECT_EQ(Curl(Key("disabled", "metadata"), body).body,
            R"({"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"DISABLED"})");
}

TEST_F(XksE2eTest, EncryptDecryptWithAadMetadataAndIntegrityValue) {
  Start();
  const Bytes plaintext = RandomBytes(32);
  const Bytes aad = RandomBytes(33);
  const auto sealed = Seal(plaintext, aad, /*cdiv=*/true);
  const Bytes ct = UnB64(sealed.at("ciphertext").as_string());
  const Bytes meta = UnB64(sealed.at("ciphertextMetadata").as_string());
  const Bytes iv = UnB64(sealed.at("initializationVector").as_string());
  const Bytes tag = UnB64(sealed.at("authenticationTag").as_string());
  EXPECT_EQ(ct.size(), plaintext.size());
  EXPECT_NE(ct, plaintext);
  EXPECT_EQ(iv.size(), 12u);
  EXPECT_EQ(tag.size(), 16u);
  EXPECT_LE(meta.size(), 20u);
  // CDIV = SHA-256(aad || ciphertextMetadata || iv || ciphertext || tag).
  Bytes input = aad;
  for (const Bytes* part : {&meta, &iv, &ct, &tag})
    input.insert(input.end(), part->begin(), part->end());
  std::array<std::uint8_t, 32> digest{};
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &len, EVP_sha256(), nullptr);
  EXPECT_EQ(sealed.at("ciphertextDataIntegrityValue").as_string(), Base64Encode(digest));
  const Reply opened = Curl(Key("both", "decrypt"), DecryptBody(sealed, B64(aad)));
  ASSERT_EQ(opened.status, 200) << opened.body;
  EXPECT_EQ(opened.body, "{\"plaintext\":\"" + B64(plaintext) + "\"}");
  // No AAD at all, no CDIV: the field is absent.
  const auto plain = Seal(plaintext, {});
  EXPECT_FALSE(plain.contains("ciphertextDataIntegrityValue"));
  EXPECT_EQ(Curl(Key("both", "decrypt"), DecryptBody(plain, "")).status, 200);
}

TEST_F(XksE2eTest, LargePlaintextWithLargeAad) {
  Start();
  const Bytes plaintext = RandomBytes(4096);
  const Bytes aad = RandomBytes(8192);
  const auto sealed = Seal(plaintext, aad, true);
  ASSERT_TRUE(sealed.contains("ciphertext"));
  EXPECT_EQ(UnB64(sealed.at("ciphertext").as_string()).size(), 4096u);
  const Reply opened = Curl(Key("both", "decrypt"), DecryptBody(sealed, B64(aad)));
  ASSERT_EQ(opened.status, 200) << opened.body.substr(0, 200);
  EXPECT_EQ(UnB64(opened.object().at("plaintext").as_string()), plaintext);
  // Beyond the sizes this proxy supports: 501 UnsupportedOperationException.
  const Reply big_aad =
      Curl(Key("both", "encrypt"), EncryptBody(B64(plaintext), B64(RandomBytes(8193))));
  EXPECT_EQ(big_aad.status, 501);
  EXPECT_EQ(big_aad.error_name(), "UnsupportedOperationException");
  const Reply big_pt = Curl(Key("both", "encrypt"), EncryptBody(B64(RandomBytes(16385)), ""));
  EXPECT_EQ(big_pt.status, 501);
  EXPECT_EQ(big_pt.error_name(), "UnsupportedOperationException");
}

TEST_F(XksE2eTest, AlteredCiphertextPartsAreInvalidCiphertext) {
  Start();
  const Bytes aad = RandomBytes(20);
  const auto sealed = Seal(RandomBytes(48), aad);
  auto expect_invalid = [&](json::object changed, const std::string& aad_b64, const char* what) {
    const Reply r = Curl(Key("both", "decrypt"), DecryptBody(changed, aad_b64));
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_EQ(r.error_name(), "InvalidCiphertextException") << what;
  };
  expect_invalid(sealed, "", "missing AAD");
  expect_invalid(sealed, B64(RandomBytes(20)), "other AAD");
  auto flip = [&](const char* field) {
    json::object changed = sealed;
    Bytes b = UnB64(changed.at(field).as_string());
    b[0] ^= 0x01;
    changed[field] = B64(b);
    return changed;
  };
  expect_invalid(flip("ciphertext"), B64(aad), "flipped ciphertext");
  expect_invalid(flip("authenticationTag"), B64(aad), "flipped tag");
  expect_invalid(flip("initializationVector"), B64(aad), "flipped IV");
  expect_invalid(flip("ciphertextMetadata"), B64(aad), "altered ciphertextMetadata");
  json::object no_meta = sealed;
  no_meta.erase("ciphertextMetadata");
  expect_invalid(no_meta, B64(aad), "ciphertextMetadata dropped");
  // The metadata cannot be moved into the AAD (lengths are bound).
  Bytes moved = aad;
  const Bytes meta = UnB64(sealed.at("ciphertextMetadata").as_string());
  moved.insert(moved.end(), meta.begin(), meta.end());
  expect_invalid(no_meta, B64(moved), "metadata appended to the AAD");
  json::object short_iv = sealed;
  short_iv["initializationVector"] = B64(RandomBytes(8));
  expect_invalid(short_iv, B64(aad), "8-byte IV");
  json::object short_tag = sealed;
  short_tag["authenticationTag"] = B64(RandomBytes(12));
  expect_invalid(short_tag, B64(aad), "12-byte tag");
  json::object not_b64 = sealed;
  not_b64["ciphertext"] = "***";
  expect_invalid(not_b64, B64(aad), "ciphertext not base64");
}

TEST_F(XksE2eTest, InvalidRequestsAreValidationException) {
  Start();
  auto expect = [&](const std::string& path, const std::string& body, const char* what,
                    const CurlOptions& o = {}) {
    const Reply r = Curl(path, body, o);
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_EQ(r.error_name(), "ValidationException") << what;
  };
  const std::string enc = Key("both", "encrypt");
  expect(Health(), "{}", "health without requestMetadata");
  expect(Health(), R"({"requestMetadata":{}})", "health with empty requestMetadata");
  expect(Key("both", "metadata"), "{}", "metadata without requestMetadata");
  expect(Key("both", "metadata"), R"({"requestMetadata":{}})", "metadata, empty requestMetadata");
  expect(enc,
         "{\"requestMetadata\":" + Meta("Encrypt", "p") + ",\"encryptionAlgorithm\":\"AES_GCM\"}",
         "missing plaintext");
  expect(enc, EncryptBody("not base64!", ""), "plaintext not base64");
  expect(enc, "not json", "not JSON");
  expect(enc, R"({"requestMetadata":{"kmsRequestId":"1","kmsRequestId":"2"}})", "duplicate keys");
  expect(
      enc,
      R"({"requestMetadata":{"awsPrincipalArn":"p","kmsOperation":"Encrypt","kmsRequestId":"1"},"plaintext":"AA==","encryptionAlgorithm":"AES_GCM"})",
      "no kmsKeyArn");
  expect(enc, EncryptBody(B64("x"), ""), "form content type",
         CurlOptions{.content_type = "application/x-www-form-urlencoded"});
  expect(Key("both", "decrypt"),
         "{\"requestMetadata\":" + Meta("Decrypt", "p") + ",\"encryptionAlgorithm\":\"AES_GCM\"}",
         "decrypt without ciphertext");
  // Unsupported algorithms: 501 UnsupportedOperationException.
  std::string cbc = EncryptBody(B64("x"), "");
  cbc.replace(cbc.find("AES_GCM"), 7, "AES_CBC");
  EXPECT_EQ(Curl(enc, cbc).error_name(), "UnsupportedOperationException");
  std::string md5 = EncryptBody(B64("x"), "", true);
  md5.replace(md5.find("SHA_256"), 7, "MD5____");
  EXPECT_EQ(Curl(enc, md5).status, 501);
  // Unknown requestMetadata fields are accepted (KMS may add fields).
  std::string extra = EncryptBody(B64("x"), "");
  extra.replace(extra.find("\"kmsViaService\""), 0, "\"kmsFutureField\":\"v\",");
  EXPECT_EQ(Curl(enc, extra).status, 200);
}

TEST_F(XksE2eTest, UnknownOrAbsentKeysAreKeyNotFound) {
  Start();
  const std::string meta = "{\"requestMetadata\":" + Meta("DescribeKey", "p") + "}";
  for (const std::string id : {"no-such-key", "absent"}) {
    const Reply m = Curl(Key(id, "metadata"), meta);
    EXPECT_EQ(m.status, 404) << id << m.body;
    EXPECT_EQ(m.error_name(), "KeyNotFoundException") << id;
    EXPECT_EQ(Curl(Key(id, "encrypt"), EncryptBody(B64("x"), "")).error_name(),
              "KeyNotFoundException")
        << id;
    const Reply d = Curl(Key(id, "decrypt"),
                         DecryptBody(json::object{{"ciphertext", "AA=="},
                                                  {"initializationVector", B64(RandomBytes(12))},
                                                  {"authenticationTag", B64(RandomBytes(16))}},
                                     ""));
    EXPECT_EQ(d.error_name(), "KeyNotFoundException") << id;
  }
}

TEST_F(XksE2eTest, OperationsOutsideTheKeysUsageAreInvalidKeyUsage) {
  Start();
  const Bytes plaintext = RandomBytes(16);
  const auto sealed = Seal(plaintext, {});
  auto usage = [&](const std::string& id, const std::string& op, const std::string& body) {
    const Reply r = Curl(Key(id, op), body);
    EXPECT_EQ(r.status, 400) << id << "/" << op << r.body;
    EXPECT_EQ(r.error_name(), "InvalidKeyUsageException") << id << "/" << op;
  };
  usage("encrypt-only", "decrypt", DecryptBody(sealed, ""));
  usage("encrypt-only", "encrypt", EncryptBody(B64(plaintext), "", /*cdiv=*/true));
  usage("decrypt-only", "encrypt", EncryptBody(B64(plaintext), ""));
  usage("no-usage", "encrypt", EncryptBody(B64(plaintext), ""));
  usage("no-usage", "decrypt", DecryptBody(sealed, ""));
  // What is allowed still works: encrypt-only encrypts, decrypt-only decrypts.
  EXPECT_EQ(Curl(Key("encrypt-only", "encrypt"), EncryptBody(B64(plaintext), "")).status, 200);
  const Reply opened = Curl(Key("decrypt-only", "decrypt"), DecryptBody(sealed, ""));
  EXPECT_EQ(opened.status, 200) << opened.body;
}

TEST_F(XksE2eTest, DisabledKeyIsInvalidState) {
  Start();
  const auto sealed = Seal(RandomBytes(16), {});
  for (const auto& [op, body] : {std::pair{std::string("encrypt"), EncryptBody(B64("x"), "")},
                                 std::pair{std::string("decrypt"), DecryptBody(sealed, "")}}) {
    const Reply r = Curl(Key("disabled", op), body);
    EXPECT_EQ(r.status, 400) << op << r.body;
    EXPECT_EQ(r.error_name(), "InvalidStateException") << op;
  }
}

TEST_F(XksE2eTest, SecondaryAuthorizationIsAccessDenied) {
  Start();
  const Reply alice = Curl(Key("restricted", "encrypt"), EncryptBody(B64("x"), ""));
  EXPECT_EQ(alice.status, 403) << alice.body;
  EXPECT_EQ(alice.error_name(), "AccessDeniedException");
  const Reply meta =
      Curl(Key("restricted", "metadata"),
           "{\"requestMetadata\":" + Meta("DescribeKey", "arn:aws:iam::9:user/Eve") + "}");
  EXPECT_EQ(meta.error_name(), "AccessDeniedException");
  const Reply role =
      Curl(Key("restricted", "encrypt"),
           EncryptBody(B64("x"), "", false, "arn:aws:iam::123456789012:role/KmsWriter"));
  EXPECT_EQ(role.status, 200) << role.body;
}

// The store's policy is evaluated for encrypt and decrypt: principal
// (awsPrincipalArn), kmsOperation (lower case, as asset type) and keyId.
TEST_F(XksE2eTest, StorePolicyIsSecondaryAuthorization) {
  Start();
  const auto sealed = Seal(RandomBytes(16), {});
  const Reply bob =
      Curl(Key("both", "decrypt"), DecryptBody(sealed, "", "arn:aws:iam::123456789012:user/Bob"));
  EXPECT_EQ(bob.status, 403) << bob.body;
  EXPECT_EQ(bob.error_name(), "AccessDeniedException");
  EXPECT_NE(bob.body.find("no-decrypt-for-bob"), std::string::npos);
  std::string gdk = EncryptBody(B64("x"), "");
  gdk.replace(gdk.find("\"Encrypt\""), 9, "\"GenerateDataKeyWithoutPlaintext\"");
  EXPECT_EQ(Curl(Key("both", "encrypt"), gdk).error_name(), "AccessDeniedException");
  std::string gdk_plain = EncryptBody(B64("x"), "");
  gdk_plain.replace(gdk_plain.find("\"Encrypt\""), 9, "\"GenerateDataKey\"");
  EXPECT_EQ(Curl(Key("both", "encrypt"), gdk_plain).status, 200);
  // SIGHUP re-reads it; a broken document keeps the one in force.
  WriteFile(dir_.path() / "policy.json", R"({"default":"allow","rules":[]})");
  kmsd_->Signal(SIGHUP);
  ASSERT_TRUE(kmsd_->WaitForLog("reload: policies, keys and certificates re-read"));
  EXPECT_EQ(
      Curl(Key("both", "decrypt"), DecryptBody(sealed, "", "arn:aws:iam::123456789012:user/Bob"))
          .status,
      200);
  WriteFile(dir_.path() / "policy.json", R"({"default":"maybe"})");
  kmsd_->Signal(SIGHUP);
  ASSERT_TRUE(kmsd_->WaitForLog("reload kept the previous state of")) << kmsd_->log();
  EXPECT_EQ(
      Curl(Key("both", "decrypt"), DecryptBody(sealed, "", "arn:aws:iam::123456789012:user/Bob"))
          .status,
      200);
}

TEST_F(XksE2eTest, BadSignaturesAreAuthenticationFailed) {
  Start();
  auto refused = [&](const CurlOptions& o, const char* what, const std::string& path = Health()) {
    const Reply r = Curl(path, HealthBody(), o);
    EXPECT_EQ(r.status, 401) << what << ": " << r.body;
    EXPECT_EQ(r.error_name(), "AuthenticationFailedException") << what;
  };
  std::string wrong_secret = kCred1;
  wrong_secret.back() = wrong_secret.back() == 'f' ? 'e' : 'f';
  refused({.credential = wrong_secret}, "wrong secret");
  refused({.credential = std::string("Invalid") + kCred1}, "unknown access key id");
  refused({.credential = kCredOther}, "another key store's credential");
  refused({.region = "eu-west-1"}, "other region");
  refused({.sign = false}, "unsigned");
  refused({.credential = wrong_secret}, "encrypt route too", Key("both", "encrypt"));
  // The other key store accepts its own credential only.
  EXPECT_EQ(Curl(Health("/other"), HealthBody(), {.credential = kCredOther}).status, 200);
  EXPECT_EQ(Curl(Health("/other"), HealthBody()).error_name(), "AuthenticationFailedException");
}

// curl signs with its own clock: faketime (Debian package faketime) moves
// that clock, so the X-Amz-Date curl sends and signs is off by `offset`.
// (curl 7.88 given an X-Amz-Date header sends it twice, which no SigV4
// verifier accepts, hence not that way.)
TEST_F(XksE2eTest, ClockSkewBeyondFiveMinutesIsRefused) {
  if (std::system("faketime -f +0s true >/dev/null 2>&1") != 0) {
    if (IsCi()) FAIL() << "faketime is not installed (scripts/install-deps.sh)";
    GTEST_SKIP() << "faketime is not installed";
  }
  Start();
  auto at = [&](const char* offset) {
    return Curl(Health(), HealthBody(), {.wrapper = std::string("faketime -f ") + offset});
  };
  EXPECT_EQ(at("-240s").status, 200);
  EXPECT_EQ(at("+240s").status, 200);
  const Reply past = at("-360s");
  EXPECT_EQ(past.status, 401) << past.body;
  EXPECT_EQ(past.error_name(), "AuthenticationFailedException");
  EXPECT_EQ(at("+360s").error_name(), "AuthenticationFailedException");
  EXPECT_NE(kmsd_->log().find("sigv4 clock_skew"), std::string::npos);
}

TEST_F(XksE2eTest, TwoCredentialsAreBothAccepted) {
  Start();
  for (const char* credential : {kCred1, kCred2}) {
    const Reply r =
        Curl(Key("both", "encrypt"), EncryptBody(B64("hello"), ""), {.credential = credential});
    EXPECT_EQ(r.status, 200) << credential << r.body;
  }
}

TEST_F(XksE2eTest, SighupReloadsCredentials) {
  Start();
  const std::string rotated =
      "AKIDROTATEDDDDDDDDDDDDDD:a-brand-new-secret-after-rotation-0123456789ab";
  EXPECT_EQ(Curl(Health(), HealthBody(), {.credential = rotated}).status, 401);
  WriteFile(dir_.path() / "cred2", rotated + "\n");
  kmsd_->Signal(SIGHUP);
  ASSERT_TRUE(kmsd_->WaitForLog("reload: policies, keys and certificates re-read")) << kmsd_->log();
  EXPECT_EQ(Curl(Health(), HealthBody(), {.credential = rotated}).status, 200);
  EXPECT_EQ(Curl(Health(), HealthBody(), {.credential = kCred2}).status, 401) << "retired";
  EXPECT_EQ(Curl(Health(), HealthBody(), {.credential = kCred1}).status, 200);
  // A broken file keeps the credentials in force.
  WriteFile(dir_.path() / "cred2", "no colon here\n");
  kmsd_->Signal(SIGHUP);
  ASSERT_TRUE(kmsd_->WaitForLog("reload kept the previous state of")) << kmsd_->log();
  EXPECT_EQ(Curl(Health(), HealthBody(), {.credential = rotated}).status, 200);
}

TEST_F(XksE2eTest, UnknownPathsAreInvalidUriPathEvenWhenSigned) {
  Start();
  auto invalid = [&](const std::string& path, const char* what) {
    const Reply r = Curl(path, HealthBody());
    EXPECT_EQ(r.status, 404) << what << ": " << r.body;
    EXPECT_EQ(r.error_name(), "InvalidUriPathException") << what;
  };
  invalid(std::string(kPrefix) + "/invalid/kms/xks/v1/health", "unknown prefix");
  invalid("/kms/xks/v1/health", "no prefix");
  invalid(std::string(kPrefix) + "/kms/xks/v1/keys/both/sign", "unknown operation");
  invalid(std::string(kPrefix) + "/kms/xks/v1/status", "unknown route");
  invalid(std::string(kPrefix) + "/kms/xks/v1/keys/bad%2Fid/metadata", "bad keyId");
  invalid(std::string(kPrefix) + "/kms/xks/v2/health", "other version");
}

TEST_F(XksE2eTest, GetIsMethodNotAllowed) {
  Start();
  const Reply r = Curl(Health(), "", {.method = "GET"});
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(Curl(Key("both", "encrypt"), "", {.method = "GET"}).status, 405);
}

TEST_F(XksE2eTest, RateLimitIsThrottling) {
  Start();
  const std::string health = Health("/throttled");
  EXPECT_EQ(Curl(health, HealthBody()).status, 200);
  EXPECT_EQ(Curl(health, HealthBody()).status, 200);
  const Reply r = Curl(health, HealthBody());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.error_name(), "ThrottlingException");
  EXPECT_EQ(Curl(Health(), HealthBody()).status, 200) << "other stores are not throttled";
}

TEST_F(XksE2eTest, EveryCallIsAuditedWithoutPlaintext) {
  Start();
  const Bytes plaintext = RandomBytes(24);
  const Bytes aad = RandomBytes(24);
  const Reply enc = Curl(Key("both", "encrypt"),
                         EncryptBody(B64(plaintext), B64(aad), false,
                                     "arn:aws:iam::123456789012:user/Alice", "kms-req-42"));
  ASSERT_EQ(enc.status, 200);
  ASSERT_EQ(Curl(Key("both", "decrypt"), DecryptBody(enc.object(), B64(aad))).status, 200);
  ASSERT_EQ(Curl(Key("disabled", "encrypt"), EncryptBody(B64(plaintext), "")).status, 400);
  std::string all;
  for (int attempt = 0; attempt < 50; ++attempt) {
    all.clear();
    for (const auto& entry : fs::directory_iterator(dir_.path() / "audit")) {
      if (entry.path().extension() == ".jsonl" ||
          entry.path().string().find("audit-") != std::string::npos)
        all += ReadFile(entry.path());
    }
    if (all.find("xks_decrypt") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(all.find("\"xks_encrypt\""), std::string::npos) << all.substr(0, 400);
  EXPECT_NE(all.find("\"xks_decrypt\""), std::string::npos);
  EXPECT_NE(all.find("kms-req-42"), std::string::npos) << "kmsRequestId is the request id";
  EXPECT_NE(all.find("xks:test"), std::string::npos);
  EXPECT_NE(all.find("InvalidStateException"), std::string::npos);
  ASSERT_EQ(Curl(Key("both", "decrypt"),
                 DecryptBody(enc.object(), B64(aad), "arn:aws:iam::123456789012:user/Bob"))
                .status,
            403);
  for (int attempt = 0; attempt < 50 && all.find("no-decrypt-for-bob") == std::string::npos;
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    all = ReadFile(dir_.path() / "audit" / "audit-000001.jsonl");
  }
  EXPECT_NE(all.find("\"rule\":\"no-decrypt-for-bob\""), std::string::npos) << "deciding rule";
  EXPECT_EQ(all.find(B64(plaintext)), std::string::npos) << "plaintext in the audit log";
  EXPECT_EQ(all.find(B64(aad)), std::string::npos) << "AAD in the audit log";
  EXPECT_EQ(kmsd_->log().find(B64(plaintext)), std::string::npos) << "plaintext in the log";
}

TEST_F(XksE2eTest, ApiAndXksShareTheListener) {
  Start();
  EXPECT_EQ(HttpGetStatus(port_, "/healthz"), 200);
  EXPECT_EQ(Curl(Health(), HealthBody()).status, 200);
}

// Mutual TLS through the listener's [tls] settings: a client certificate
// from the configured CA with an allowed subject CN completes the handshake;
// another CA, no certificate, or a CN not on the list fails it.
TEST_F(XksE2eTest, MutualTlsWithSubjectAllowList) {
  const auto* pki = http::testing::GetTestPki();
  ASSERT_NE(pki, nullptr);
  auto tls = [&](const std::string& cn) {
    return "[tls]\ncert_file = \"" + pki->server_one_cert + "\"\nkey_file = \"" +
           pki->server_one_key + "\"\nclient_ca_file = \"" + pki->ca_one +
           "\"\nclient_subject_cns = [\"" + cn + "\"]\n";
  };
  const std::string trust = "--cacert " + pki->ca_one;
  const std::string one =
      trust + " --cert " + pki->client_one_cert + " --key " + pki->client_one_key;
  const std::string other =
      trust + " --cert " + pki->client_other_cert + " --key " + pki->client_other_key;
  {
    Start(tls("client-one"));
    EXPECT_EQ(Curl(Health(), HealthBody(), {.extra = {one}}).status, 200);
    EXPECT_EQ(Curl(Health(), HealthBody(), {.extra = {other}}).status, 0) << "other CA";
    EXPECT_EQ(Curl(Health(), HealthBody(), {.extra = {trust}}).status, 0) << "no certificate";
    kmsd_.reset();
  }
  Start(tls("cks.kms.us-east-1.amazonaws.com"));
  EXPECT_EQ(Curl(Health(), HealthBody(), {.extra = {one}}).status, 0) << "CN not allowed";
}

}  // namespace
}  // namespace kmsd::testing
