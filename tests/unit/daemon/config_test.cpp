#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kmsd::daemon {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

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

TEST(ConfigTest, TenantMustNameAKnownToken) {
  std::string text(kValid);
  text.replace(text.find("token = \"primary\""), 17, "token = \"other\"");
  EXPECT_THAT(ProblemsOf(text), Contains("tenants[0].token: names no [[tokens]] entry"));
}

TEST(ConfigTest, MalformedTomlNamesTheLine) {
  EXPECT_THAT(ProblemsOf("[server\nlisten = 1"), Contains(HasSubstr("line 1")));
}

TEST(ConfigTest, RedactedDumpShowsSecretSourcesOnly) {
  const auto config = ParseConfig(kValid);
  ASSERT_TRUE(config);
  const std::string dump = DumpConfigRedacted(*config);
  EXPECT_THAT(dump, HasSubstr("pin=credential:token-pin"));
  EXPECT_THAT(dump, HasSubstr("tls.key=credential:tls-key"));
}

}  // namespace
}  // namespace kmsd::daemon
