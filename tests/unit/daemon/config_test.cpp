#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kmsd::daemon {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kValid = R"toml(
[server]
listen = "0.0.0.0:8443"
ops_listen = "127.0.0.1:9090"
worker_threads = 8

[tls]
cert_file = "/etc/kmsd/tls/server.crt"
key_credential = "tls-key"
client_ca_file = "/etc/kmsd/tls/clients-ca.crt"

[store]
path = "/var/lib/kmsd/kmsd.db"

[audit]
dir = "/var/log/kmsd"

[identity]
issuer = "https://idp.example.com"
audience = "kmsd"
jwks_file = "/etc/kmsd/idp-jwks.json"
[identity.role_map]
"kms-encrypt" = "encrypt"

[[tokens]]
name = "primary"
label = "kmsd"
pin_credential = "token-pin"

[[tenants]]
name = "acme"
token = "primary"
signers_jwks_file = "/etc/kmsd/tenants/acme-signers.json"
signers_issuer = "storage.acme.example"
)toml";

std::vector<std::string> ProblemsOf(std::string_view text) {
  ConfigProblems problems;
  const auto config = ParseConfig(text, &problems);
  EXPECT_FALSE(config);
  if (!config) {
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  }
  return problems.problems;
}

std::string WithExtra(std::string_view extra) { return std::string(kValid) + std::string(extra); }

TEST(ConfigTest, ParsesValidFile) {
  const auto config = ParseConfig(kValid);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server.listen.address, "0.0.0.0");
  EXPECT_EQ(config->server.listen.port, 8443);
  ASSERT_TRUE(config->server.ops_listen);
  EXPECT_EQ(config->server.ops_listen->port, 9090);
  EXPECT_EQ(config->server.worker_threads, 8u);
  EXPECT_EQ(config->server.body_limit_bytes, 65536u);
  EXPECT_EQ(config->tls.key.credential, "tls-key");
  ASSERT_EQ(config->tokens.size(), 1u);
  EXPECT_EQ(config->tokens[0].pin.credential, "token-pin");
  EXPECT_EQ(config->identity.role_map.at("kms-encrypt"), "encrypt");
  ASSERT_EQ(config->tenants.size(), 1u);
}

TEST(ConfigTest, UnknownKeysAreNamedByPath) {
  EXPECT_THAT(ProblemsOf(WithExtra("[keys]\nrotate_after = 5\n")),
              Contains("keys.rotate_after: unknown key"));
  EXPECT_THAT(ProblemsOf(WithExtra(
                  "[[tokens]]\nname = \"b\"\nlabel = \"b\"\npin_file = \"/p\"\nslot = 1\n")),
              Contains("tokens[1].slot: unknown key"));
  EXPECT_THAT(ProblemsOf(WithExtra("[bogus]\n")), Contains("bogus: unknown key"));
}

TEST(ConfigTest, OutOfRangeAndWrongTypesAreRefused) {
  std::string text(kValid);
  text.replace(text.find("worker_threads = 8"), 18, "worker_threads = 0");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("server.worker_threads: must be between")));
  text = std::string(kValid);
  text.replace(text.find("worker_threads = 8"), 18, "worker_threads = \"8\"");
  EXPECT_THAT(ProblemsOf(text), Contains("server.worker_threads: must be an integer"));
}

// Start-up after a crash reads the newest audit file whole: a file may not
// grow past what that read can afford (it was 2^40 bytes).
TEST(ConfigTest, AuditFilesAreBoundedToOneGibibyte) {
  const auto with_size = [](std::string_view size) {
    std::string text(kValid);
    text.replace(text.find("dir = \"/var/log/kmsd\""), 21,
                 "dir = \"/var/log/kmsd\"\nmax_file_bytes = " + std::string(size));
    return text;
  };
  ConfigProblems problems;
  const auto largest = ParseConfig(with_size("1073741824"), &problems);
  ASSERT_TRUE(largest) << ::testing::PrintToString(problems.problems);
  EXPECT_EQ(largest->audit.max_file_bytes, 1ull << 30);
  EXPECT_THAT(ProblemsOf(with_size("1073741825")),
              Contains("audit.max_file_bytes: must be between 65536 and 1073741824"));
}

TEST(ConfigTest, InlineSecretsAreRefused) {
  std::string text(kValid);
  text.replace(text.find("pin_credential = \"token-pin\""), 28, "pin = \"1234\"");
  const auto problems = ProblemsOf(text);
  EXPECT_THAT(problems, Contains(HasSubstr("tokens[0].pin: secrets are never inline")));
  for (const auto& p : problems) EXPECT_EQ(p.find("1234"), std::string::npos) << p;
}

TEST(ConfigTest, PlainHttpOffLoopbackIsRefused) {
  std::string text(kValid);
  text.replace(text.find("[tls]\n"), 6, "[tls]\nenabled = false\n");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("plain HTTP is refused")));
}

// Replaces the first `from` in `text`; the test fails if there is none.
void ReplaceIn(std::string& text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

// Fields whose bad values used to pass: an empty broker id (tokens for no
// audience verified), tenant names the broker refuses on every request, and
// a relative signer file resolved against the working directory.
TEST(ConfigTest, BrokerIdTenantNamesAndSignerFilesAreChecked) {
  const auto with = [](std::string_view from, std::string_view to) {
    std::string text(kValid);
    ReplaceIn(text, from, to);
    return text;
  };
  EXPECT_THAT(ProblemsOf(with("[[tokens]]", "[authorization]\nbroker_id = \"\"\n\n[[tokens]]")),
              Contains("authorization.broker_id: must not be empty"));
  for (const char* name : {"_health", "ac/me:x", ".hidden"}) {
    EXPECT_THAT(ProblemsOf(with("name = \"acme\"", "name = \"" + std::string(name) + "\"")),
                Contains(HasSubstr("tenants[0].name: must be 1..64 of")))
        << name;
  }
  EXPECT_THAT(ProblemsOf(with("\"/etc/kmsd/tenants/acme-signers.json\"",
                              "\"etc/kmsd/tenants/acme-signers.json\"")),
              Contains("tenants[0].signers_jwks_file: must be an absolute path"));
}

// Names that were accepted empty: a claim named "" is in no token (every
// caller would be roleless, or tenantless), and an empty KEK label prefix
// makes a tenant's KEK labels bare "acme:v1", open to clashes with other
// objects on a shared token.
TEST(ConfigTest, EmptyClaimNamesAndKekLabelPrefixAreRefused) {
  const auto with = [](std::string_view from, std::string_view to) {
    std::string text(kValid);
    ReplaceIn(text, from, to);
    return text;
  };
  const std::string problem = ": must not be empty or hold spaces or control characters";
  // Blank names (spaces, a tab, a NUL) were accepted after "" was refused.
  for (const std::string_view value :
       {"\"\"", "\"   \"", "\"\\t\"", "\" roles\"", "\"a\\u0000\""}) {
    const std::string v(value);
    EXPECT_THAT(ProblemsOf(with("audience = \"kmsd\"", "audience = \"kmsd\"\nroles_claim = " + v)),
                Contains("identity.roles_claim" + problem))
        << v;
    EXPECT_THAT(ProblemsOf(with("audience = \"kmsd\"", "audience = \"kmsd\"\ntenant_claim = " + v)),
                Contains("identity.tenant_claim" + problem))
        << v;
    EXPECT_THAT(ProblemsOf(with("label = \"kmsd\"", "label = \"kmsd\"\nkek_label_prefix = " + v)),
                Contains("tokens[0].kek_label_prefix" + problem))
        << v;
  }
  // A URL claim name, as some identity providers use, stays accepted.
  ConfigProblems url_problems;
  EXPECT_TRUE(ParseConfig(with("audience = \"kmsd\"",
                               "audience = \"kmsd\"\nroles_claim = \"https://idp.example/roles\""),
                          &url_problems))
      << testing::PrintToString(url_problems.problems);
}

// Rules over several keys are named beside single-key problems, so one run
// of --check-config lists everything (they were hidden until the rest was
// fixed).
TEST(ConfigTest, CrossKeyRulesAreNamedBesideOtherProblems) {
  std::string text(kValid);
  ReplaceIn(text, "worker_threads = 8", "worker_threads = 0");
  ReplaceIn(text, "[tls]\n", "[tls]\nenabled = false\n");
  const auto problems = ProblemsOf(text);
  EXPECT_THAT(problems, Contains(HasSubstr("server.worker_threads: must be between")));
  EXPECT_THAT(problems, Contains(HasSubstr("tls.enabled: plain HTTP is refused")));
  EXPECT_THAT(problems, Contains(HasSubstr("tls.client_ca_file: mutual TLS needs")));
}

// Plain HTTP is for loopback only, on every listener, ops included.
TEST(ConfigTest, PlainHttpOpsListenerOffLoopbackIsRefused) {
  std::string text(kValid);
  ReplaceIn(text, "listen = \"0.0.0.0:8443\"", "listen = \"127.0.0.2:8443\"");
  ReplaceIn(text, "ops_listen = \"127.0.0.1:9090\"", "ops_listen = \"0.0.0.0:9090\"");
  ReplaceIn(text, "client_ca_file = ", "# client_ca_file = ");
  ReplaceIn(text, "[tls]\n", "[tls]\nenabled = false\n");
  const auto problems = ProblemsOf(text);
  EXPECT_THAT(problems, Contains(HasSubstr("server.ops_listen: plain HTTP is refused")));
  EXPECT_THAT(problems, ::testing::Not(Contains(HasSubstr("tls.enabled: plain HTTP"))));
  // Both on loopback (127.0.0.0/8 and ::1): accepted.
  ReplaceIn(text, "ops_listen = \"0.0.0.0:9090\"", "ops_listen = \"[::1]:9090\"");
  const auto config = ParseConfig(text);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server.ops_listen->address, "::1");
}

TEST(ConfigTest, ListenHostMustBeAnIpAddress) {
  std::string text(kValid);
  ReplaceIn(text, "listen = \"0.0.0.0:8443\"", "listen = \"localhost:8443\"");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("server.listen: HOST must be an IP address")));
}

TEST(ConfigTest, MutualTlsWithoutTlsIsRefused) {
  std::string text(kValid);
  ReplaceIn(text, "listen = \"0.0.0.0:8443\"", "listen = \"127.0.0.1:8443\"");
  ReplaceIn(text, "[tls]\n", "[tls]\nenabled = false\n");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("tls.client_ca_file: mutual TLS needs")));
}

TEST(ConfigTest, ClientCertificatesMapToATenantPrincipalAndRoles) {
  // openssl's colon form is accepted and kept as lowercase hex.
  const auto config = ParseConfig(WithExtra(R"toml(
[[client_certificates]]
sha256 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
tenant = "acme"
principal = "media-01"
roles = ["encrypt", "decrypt"]
)toml"));
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->client_certificates.size(), 1u);
  EXPECT_EQ(config->client_certificates[0].sha256,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_EQ(config->client_certificates[0].roles, (std::vector<std::string>{"encrypt", "decrypt"}));
}

TEST(ConfigTest, BadClientCertificateEntriesAreNamedByPath) {
  const auto problems = ProblemsOf(WithExtra(R"toml(
[[client_certificates]]
sha256 = "abc"
tenant = "globex"
principal = "p"
roles = ["root"]
[[client_certificates]]
tenant = "acme"
principal = "q"
)toml"));
  EXPECT_THAT(problems, Contains(HasSubstr("client_certificates[0].sha256: must be the")));
  EXPECT_THAT(problems, Contains("client_certificates[0].tenant: names no [[tenants]] entry"));
  EXPECT_THAT(problems, Contains(HasSubstr("client_certificates[0].roles: must list only")));
  EXPECT_THAT(problems, Contains("client_certificates[1].sha256: is required"));
  EXPECT_THAT(problems, Contains(HasSubstr("client_certificates[1].roles: is required")));
}

TEST(ConfigTest, ClientCertificatesNeedMutualTls) {
  std::string text = WithExtra(R"toml(
[[client_certificates]]
sha256 = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
tenant = "acme"
principal = "media-01"
roles = ["encrypt"]
)toml");
  ReplaceIn(text, "client_ca_file = ", "# client_ca_file = ");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("client_certificates: need mutual TLS")));
}

TEST(ConfigTest, OpsListenerMustDifferFromTheApiListener) {
  std::string text(kValid);
  ReplaceIn(text, "ops_listen = \"127.0.0.1:9090\"", "ops_listen = \"0.0.0.0:8443\"");
  EXPECT_THAT(ProblemsOf(text), Contains(HasSubstr("server.ops_listen: must differ")));
}

TEST(ConfigTest, StoreAndAuditPathsMustBeAbsolute) {
  std::string text(kValid);
  ReplaceIn(text, "cert_file = \"/etc/kmsd/tls/server.crt\"", "cert_file = \"server.crt\"");
  ReplaceIn(text, "path = \"/var/lib/kmsd/kmsd.db\"", "path = \"state/kmsd.db\"");
  ReplaceIn(text, "dir = \"/var/log/kmsd\"", "dir = \"relative/audit\"");
  const auto problems = ProblemsOf(text);
  EXPECT_THAT(problems, Contains("store.path: must be an absolute path"));
  EXPECT_THAT(problems, Contains("audit.dir: must be an absolute path"));
  EXPECT_THAT(problems, Contains("tls.cert_file: must be an absolute path"));
}

// --check-config warns about every file it names that cannot be read now.
TEST(ConfigTest, UnreadableFilesAreNamedByTheirKey) {
  std::string text(kValid);
  ReplaceIn(text, "cert_file = \"/etc/kmsd/tls/server.crt\"",
            "cert_file = \"/nonexistent/cert.pem\"");
  ReplaceIn(text, "pin_credential = \"token-pin\"",
            "module = \"/nonexistent/lib.so\"\npin_file = \"/nonexistent/pin\"");
  const auto config = ParseConfig(text);
  ASSERT_TRUE(config) << config.error().message;
  const auto missing = UnreadableFiles(*config);
  EXPECT_THAT(missing, Contains(HasSubstr("tls.cert_file: /nonexistent/cert.pem")));
  EXPECT_THAT(missing, Contains(HasSubstr("tokens[0].module: /nonexistent/lib.so")));
  EXPECT_THAT(missing, Contains(HasSubstr("tokens[0].pin_file: /nonexistent/pin")));
  EXPECT_THAT(missing, Contains(HasSubstr("identity.jwks_file: /etc/kmsd/idp-jwks.json")));
}

// A secret file open to others is named too: the daemon refuses to read it.
TEST(ConfigTest, SecretFilesOpenToOthersAreNamed) {
  const auto pin = std::filesystem::temp_directory_path() / "kmsd-config-test-open.pin";
  { std::ofstream(pin) << "1234"; }
  std::filesystem::permissions(pin, std::filesystem::perms::owner_read |
                                        std::filesystem::perms::owner_write |
                                        std::filesystem::perms::others_read);
  std::string text(kValid);
  ReplaceIn(text, "pin_credential = \"token-pin\"", "pin_file = \"" + pin.string() + "\"");
  const auto config = ParseConfig(text);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_THAT(UnreadableFiles(*config),
              Contains(HasSubstr("tokens[0].pin_file: secret file " + pin.string() +
                                 ": readable or writable by others (mode 0604)")));
  std::filesystem::permissions(
      pin, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  for (const auto& line : UnreadableFiles(*config)) {
    EXPECT_EQ(line.find("pin_file"), std::string::npos) << line;
  }
  std::filesystem::remove(pin);
}

// A JWKS file that reads but would stop the start-up is named too (a PIN
// file named by mistake, or a key set with no key, printed OK).
TEST(ConfigTest, JwksFilesThatWouldStopTheStartAreNamed) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto not_jwks = dir / "kmsd-config-test-not.jwks";
  const auto empty = dir / "kmsd-config-test-empty.jwks";
  { std::ofstream(not_jwks) << "1234\n"; }
  { std::ofstream(empty) << R"({"keys": []})"; }
  std::string text(kValid);
  ReplaceIn(text, "/etc/kmsd/idp-jwks.json", not_jwks.string());
  ReplaceIn(text, "/etc/kmsd/tenants/acme-signers.json", empty.string());
  const auto config = ParseConfig(text);
  ASSERT_TRUE(config) << config.error().message;
  const auto warnings = UnreadableFiles(*config);
  EXPECT_THAT(warnings,
              Contains("identity.jwks_file: " + not_jwks.string() + ": JWKS has no keys array"));
  EXPECT_THAT(warnings,
              Contains("tenants[0].signers_jwks_file: " + empty.string() + ": JWKS holds no key"));
  for (const auto& line : warnings) EXPECT_EQ(line.find("1234"), std::string::npos) << line;
  std::filesystem::remove(not_jwks);
  std::filesystem::remove(empty);
}

// Files that read but are not what their key needs printed OK: a PIN file
// named as the module, a key named as the certificate, a directory as the
// store file. The start-up then failed; --check-config names them now.
TEST(ConfigTest, FilesOfTheWrongKindAreNamed) {
  const auto dir = std::filesystem::temp_directory_path() / "kmsd-config-test-kinds";
  std::filesystem::create_directories(dir / "store-dir");
  const auto not_elf = dir / "not-a-library.so";
  const auto not_cert = dir / "not-a-cert.pem";
  { std::ofstream(not_elf) << "1234\n"; }
  { std::ofstream(not_cert) << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"; }
  std::string text(kValid);
  ReplaceIn(text, "/etc/kmsd/tls/server.crt", not_cert.string());
  ReplaceIn(text, "/etc/kmsd/tls/clients-ca.crt", not_cert.string());
  ReplaceIn(text, "/var/lib/kmsd/kmsd.db", (dir / "store-dir").string());
  ReplaceIn(text, "pin_credential = \"token-pin\"",
            "pin_credential = \"token-pin\"\nmodule = \"" + not_elf.string() + "\"");
  const auto config = ParseConfig(text);
  ASSERT_TRUE(config) << config.error().message;
  const auto warnings = UnreadableFiles(*config);
  EXPECT_THAT(warnings, Contains("tokens[0].module: " + not_elf.string() +
                                 ": not a shared library (no ELF header)"));
  EXPECT_THAT(warnings,
              Contains("tls.cert_file: " + not_cert.string() + ": holds no PEM certificate"));
  EXPECT_THAT(warnings,
              Contains("tls.client_ca_file: " + not_cert.string() + ": holds no PEM certificate"));
  EXPECT_THAT(warnings,
              Contains("store.path: " + (dir / "store-dir").string() + ": is a directory"));
  for (const auto& line : warnings) EXPECT_EQ(line.find("1234"), std::string::npos) << line;

  // A directory where a file belongs: named as such (a certificate directory
  // got no warning, a module directory "no ELF header").
  std::string dirs(kValid);
  ReplaceIn(dirs, "/etc/kmsd/tls/server.crt", dir.string());
  ReplaceIn(dirs, "pin_credential = \"token-pin\"",
            "pin_credential = \"token-pin\"\nmodule = \"" + dir.string() + "\"");
  const auto dir_config = ParseConfig(dirs);
  ASSERT_TRUE(dir_config) << dir_config.error().message;
  const auto dir_warnings = UnreadableFiles(*dir_config);
  EXPECT_THAT(dir_warnings, Contains("tls.cert_file: " + dir.string() + ": is a directory"));
  EXPECT_THAT(dir_warnings, Contains("tokens[0].module: " + dir.string() + ": is a directory"));
  std::filesystem::remove_all(dir);
}

// A directory given as the config file is unreadable, not an empty config.
TEST(ConfigTest, DirectoryIsNotAConfigFile) {
  ConfigProblems problems;
  const auto dir = std::filesystem::temp_directory_path();
  EXPECT_FALSE(LoadConfigFile(dir, &problems));
  EXPECT_THAT(problems.problems, ::testing::ElementsAre(dir.string() + ": cannot be read"));
}

TEST(ConfigTest, TenantMustNameAKnownToken) {
  std::string text(kValid);
  text.replace(text.find("token = \"primary\""), 17, "token = \"other\"");
  EXPECT_THAT(ProblemsOf(text), Contains("tenants[0].token: names no [[tokens]] entry"));
}

TEST(ConfigTest, MalformedTomlNamesTheLine) {
  EXPECT_THAT(ProblemsOf("[server\nlisten = 1"), Contains(HasSubstr("line 1")));
}

// A syntax error never echoes the text it stopped at: that may be a PIN
// typed inline (toml++ quoted an out-of-range number whole).
TEST(ConfigTest, MalformedTomlEchoesNothingOfTheFile) {
  for (const char* text : {"[[tokens]]\npin = 12345678901234567890123\n",
                           "[[tokens]]\npin = \"s3cr3t-pin\n", "[tokens]\npin = s3cr3t-pin\n"}) {
    const auto problems = ProblemsOf(text);
    ASSERT_EQ(problems.size(), 1u) << text;
    EXPECT_THAT(problems.front(), HasSubstr("line 2, column")) << problems.front();
    EXPECT_EQ(problems.front().find("12345678901234567890123"), std::string::npos)
        << problems.front();
    EXPECT_EQ(problems.front().find("s3cr3t"), std::string::npos) << problems.front();
  }
}

TEST(ConfigTest, RedactedDumpShowsSecretSourcesOnly) {
  const auto config = ParseConfig(kValid);
  ASSERT_TRUE(config);
  const std::string dump = DumpConfigRedacted(*config);
  EXPECT_THAT(dump, HasSubstr("pin=credential:token-pin"));
  EXPECT_THAT(dump, HasSubstr("tls.key=credential:tls-key"));
}

constexpr std::string_view kXks = R"toml(
[xks]
ekm_vendor = "SoftHSM"
fleet_size = 2

[[xks.key_stores]]
name = "aws-eu"
uri_path_prefix = "/keystores/eu1"
region = "eu-west-1"
credentials = [{ sigv4_file = "/etc/kmsd/xks-eu.1" }, { sigv4_credential = "xks-eu-2" }]
rate_limit_rps = 100

[[xks.key_stores.keys]]
id = "key-1"
token = "primary"
label = "xks:key-1"

[[xks.key_stores.keys]]
id = "encrypt.only_2"
token = "primary"
label = "xks:key-2"
operations = ["encrypt"]
enabled = false
allowed_principals = ["arn:aws:iam::123456789012:*"]
)toml";

TEST(ConfigTest, ParsesXksKeyStores) {
  const auto config = ParseConfig(WithExtra(kXks));
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->xks.key_stores.size(), 1u);
  const XksKeyStoreConfig& store = config->xks.key_stores[0];
  EXPECT_EQ(store.uri_path_prefix, "/keystores/eu1");
  EXPECT_EQ(store.region, "eu-west-1");
  ASSERT_EQ(store.credentials.size(), 2u);
  EXPECT_EQ(store.credentials[0].file, "/etc/kmsd/xks-eu.1");
  EXPECT_EQ(store.credentials[1].credential, "xks-eu-2");
  ASSERT_EQ(store.keys.size(), 2u);
  EXPECT_TRUE(store.keys[0].encrypt && store.keys[0].decrypt && store.keys[0].enabled);
  EXPECT_TRUE(store.keys[1].encrypt);
  EXPECT_FALSE(store.keys[1].decrypt);
  EXPECT_FALSE(store.keys[1].enabled);
  EXPECT_EQ(store.keys[1].allowed_principals.size(), 1u);
  EXPECT_EQ(config->xks.fleet_size, 2u);
  const std::string dump = DumpConfigRedacted(*config);
  EXPECT_THAT(dump, HasSubstr("credentials=file:/etc/kmsd/xks-eu.1,credential:xks-eu-2"));
}

TEST(ConfigTest, XksProblemsAreNamedByPath) {
  auto replaced = [](std::string from, std::string to) {
    std::string text = WithExtra(kXks);
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  EXPECT_THAT(ProblemsOf(replaced("{ sigv4_file = \"/etc/kmsd/xks-eu.1\" }",
                                  "{ sigv4 = \"inline-secret\" }")),
              Contains(HasSubstr("xks.key_stores[0].credentials[0].sigv4: secrets are never")));
  EXPECT_THAT(ProblemsOf(replaced("rate_limit_rps = 100", "policy_file = \"xks.json\"")),
              Contains("xks.key_stores[0].policy_file: must be an absolute path"));
  EXPECT_THAT(ProblemsOf(replaced("credentials = [", "credential = [")),
              Contains("xks.key_stores[0].credential: unknown key"));
  EXPECT_THAT(ProblemsOf(replaced("\"/keystores/eu1\"", "\"/keystores/eu1/\"")),
              Contains(HasSubstr("xks.key_stores[0].uri_path_prefix: must be")));
  for (const char* under_api : {"\"/v1\"", "\"/v1/stores\""}) {
    EXPECT_THAT(ProblemsOf(replaced("\"/keystores/eu1\"", under_api)),
                Contains("xks.key_stores[0].uri_path_prefix: must not be /v1 or under it (the "
                         "API's paths)"))
        << under_api;
  }
  ConfigProblems v10_problems;
  EXPECT_TRUE(ParseConfig(replaced("\"/keystores/eu1\"", "\"/v10\""), &v10_problems));
  EXPECT_THAT(v10_problems.problems, IsEmpty());
  EXPECT_THAT(ProblemsOf(replaced("operations = [\"encrypt\"]", "operations = [\"sign\"]")),
              Contains(HasSubstr("xks.key_stores[0].keys[1].operations:")));
  EXPECT_THAT(ProblemsOf(replaced("id = \"encrypt.only_2\"", "id = \"key-1\"")),
              Contains("xks.key_stores[0].keys[1].id: is used twice"));
  EXPECT_THAT(ProblemsOf(replaced("id = \"encrypt.only_2\"", "id = \"a/b\"")),
              Contains(HasSubstr("xks.key_stores[0].keys[1].id: must be")));
  EXPECT_THAT(
      ProblemsOf(replaced("label = \"xks:key-1\"\n", "label = \"xks:key-1\"\ncolour = 1\n")),
      Contains("xks.key_stores[0].keys[0].colour: unknown key"));
  std::string other_token = WithExtra(kXks);
  other_token.replace(other_token.rfind("token = \"primary\""), 17, "token = \"nope\"");
  EXPECT_THAT(ProblemsOf(other_token),
              Contains("xks.key_stores[0].keys[1].token: names no [[tokens]] entry"));
  std::string no_credentials = replaced(
      "credentials = [{ sigv4_file = \"/etc/kmsd/xks-eu.1\" }, { sigv4_credential = \"xks-eu-2\" "
      "}]",
      "");
  EXPECT_THAT(ProblemsOf(no_credentials), Contains(HasSubstr("xks.key_stores[0].credentials:")));
}

TEST(ConfigTest, ClientSubjectNamesNeedMutualTls) {
  std::string text(kValid);
  text.replace(text.find("client_ca_file = \"/etc/kmsd/tls/clients-ca.crt\""), 47,
               "client_subject_cns = [\"cks.kms.eu-west-1.amazonaws.com\"]");
  EXPECT_THAT(ProblemsOf(text),
              Contains("tls.client_subject_cns: needs client_ca_file (mutual TLS)"));
  std::string ok(kValid);
  ok.replace(ok.find("[store]"), 7,
             "client_subject_cns = [\"cks.kms.eu-west-1.amazonaws.com\"]\n[store]");
  const auto config = ParseConfig(ok);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->tls.client_subject_cns.size(), 1u);
}

}  // namespace
}  // namespace kmsd::daemon
