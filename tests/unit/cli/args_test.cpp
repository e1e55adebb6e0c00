#include <gtest/gtest.h>
#include <stdlib.h>

#include <sstream>

#include "cli/kmsctl/app.h"
#include "cli/kmsctl/exit_codes.h"

namespace kmsd::kmsctl {
namespace {

struct Parsed {
  std::optional<int> done;
  Settings settings;
  std::string out;
  std::string err;
};

Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kmsctl");
  Parsed p;
  std::ostringstream out, err;
  p.done = ParseKmsctl(args, p.settings, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

class ArgsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("KMSD_URL");
    unsetenv("KMSD_TOKEN");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(ArgsTest, EqualsAndSpaceFormsGiveTheSameSettings) {
  const auto spaced =
      Parse({"--url", "http://h:1", "--token-file", "/t", "datakey", "generate", "--asset-type",
             "recording", "--asset-id", "m/1", "--context-id", "c1"});
  const auto equals = Parse({"--url=http://h:1", "--token-file=/t", "datakey", "generate",
                             "--asset-type=recording", "--asset-id=m/1", "--context-id=c1"});
  for (const auto* p : {&spaced, &equals}) {
    ASSERT_FALSE(p->done) << p->err;
    EXPECT_EQ(p->settings.command, "datakey generate");
    EXPECT_EQ(p->settings.url, "http://h:1");
    EXPECT_EQ(p->settings.token_file, "/t");
    EXPECT_EQ(p->settings.asset_type, "recording");
    EXPECT_EQ(p->settings.asset_id, "m/1");
    EXPECT_EQ(p->settings.context_id, "c1");
  }
}

TEST_F(ArgsTest, NegativeTtlInBothForms) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"dev", "authz", "--data-dir", "/d", "--tenant", "t", "--context-id", "c", "--ttl=-1m"},
           {"dev", "authz", "--data-dir", "/d", "--tenant", "t", "--context-id", "c", "--ttl",
            "-1m"}}) {
    const auto p = Parse(args);
    ASSERT_FALSE(p.done) << p.err;
    EXPECT_EQ(p.settings.command, "dev authz");
    EXPECT_EQ(p.settings.ttl, "-1m");
  }
}

TEST_F(ArgsTest, TtlIsEmptyUnlessGivenSoEachCommandAppliesItsDefault) {
  EXPECT_EQ(Parse({"dev", "token", "--data-dir", "/d", "--tenant", "t", "--subject", "s", "--roles",
                   "admin"})
                .settings.ttl,
            "");
  EXPECT_EQ(Parse({"dev", "authz", "--data-dir", "/d", "--tenant", "t", "--context-id", "c"})
                .settings.ttl,
            "");
}

TEST_F(ArgsTest, UrlAndTokenFromEnvironmentAndFlagsWin) {
  setenv("KMSD_URL", "http://env:9", 1);
  setenv("KMSD_TOKEN", "env-token", 1);
  auto p = Parse({"keys", "list"});
  ASSERT_FALSE(p.done) << p.err;
  EXPECT_EQ(p.settings.url, "http://env:9");
  EXPECT_EQ(p.settings.token, "env-token");
  p = Parse({"--url", "http://flag:1", "keys", "list"});
  EXPECT_EQ(p.settings.url, "http://flag:1");
}

TEST_F(ArgsTest, DefaultUrlIsLoopback8200) {
  const auto p = Parse({"keys", "rotate"});
  ASSERT_FALSE(p.done);
  EXPECT_EQ(p.settings.url, "http://127.0.0.1:8200");
  EXPECT_EQ(p.settings.command, "keys rotate");
}

TEST_F(ArgsTest, PositionalsOfFileCommands) {
  auto p = Parse({"encrypt-file", "in.oga", "out.kmsenc", "--asset-type", "recording", "--asset-id",
                  "a", "--chunk-size", "65536"});
  ASSERT_FALSE(p.done) << p.err;
  EXPECT_EQ(p.settings.in, "in.oga");
  EXPECT_EQ(p.settings.out, "out.kmsenc");
  EXPECT_EQ(p.settings.chunk_size, 65536u);
  p = Parse({"decrypt-file", "x.kmsenc", "x.oga", "--authz=tok"});
  ASSERT_FALSE(p.done) << p.err;
  EXPECT_EQ(p.settings.authz, "tok");
  p = Parse({"audit", "verify", "--public-key", "k.pem", "a", "b"});
  ASSERT_FALSE(p.done) << p.err;
  EXPECT_EQ(p.settings.files, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.settings.public_key, "k.pem");
  p = Parse({"records", "destroy", "ctx-9"});
  ASSERT_FALSE(p.done) << p.err;
  EXPECT_EQ(p.settings.command, "records destroy");
  EXPECT_EQ(p.settings.context_id, "ctx-9");
}

TEST_F(ArgsTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> bad{
      {},
      {"frobnicate"},
      {"datakey"},
      {"datakey", "generate", "--asset-type", "x"},  // missing --asset-id
      {"datakey", "decrypt", "--context-id", "c"},   // missing --authz
      {"encrypt-file", "only-in", "--asset-type", "x", "--asset-id", "y"},
      {"keys", "list", "--bogus"},
      {"encrypt-file", "a", "b", "--asset-type", "x", "--asset-id", "y", "--chunk-size", "big"},
  };
  for (const auto& args : bad) {
    const auto p = Parse(args);
    ASSERT_TRUE(p.done) << ::testing::PrintToString(args);
    EXPECT_EQ(*p.done, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_FALSE(p.err.empty());
  }
}

TEST_F(ArgsTest, HelpExitsZero) {
  const auto p = Parse({"--help"});
  ASSERT_TRUE(p.done);
  EXPECT_EQ(*p.done, kExitOk);
  EXPECT_NE(p.out.find("encrypt-file"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::kmsctl
