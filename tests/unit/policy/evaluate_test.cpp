// Evaluation: each condition alone and combined, at its boundaries; deny over
// allow; the default; prefix rules. Tables with an injected request time.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::At;
using testing::BaseFacts;
using testing::Compile;
using testing::kTick;
using C = Condition;

struct Row {
  const char* label;
  std::function<void(Facts&)> change;
  Condition expected;  // kNone: the rule matches
};

// Puts `conditions` into one allow rule under a deny default, so the decision
// shows whether the rule matched; Explain must name the same failed condition.
void ExpectRows(std::string_view conditions, const std::vector<Row>& rows) {
  std::string json =
      R"({"default":"deny","rules":[{"id":"r","effect":"allow","operations":["decrypt"])";
  if (!conditions.empty()) json += "," + std::string(conditions);
  json += "}]}";
  const CompiledPolicy policy = Compile(json);
  for (const Row& row : rows) {
    Facts f = BaseFacts();
    row.change(f);
    const Decision d = policy.Evaluate(f);
    const bool should_match = row.expected == C::kNone;
    EXPECT_EQ(d.effect, should_match ? Effect::kAllow : Effect::kDeny)
        << conditions << " | " << row.label;
    EXPECT_EQ(d.rule_id, should_match ? "r" : "default") << row.label;
    const Explanation e = policy.Explain(f);
    ASSERT_EQ(e.rules.size(), 1u);
    EXPECT_EQ(e.rules[0].matched, should_match) << row.label;
    EXPECT_EQ(ConditionName(e.rules[0].failed), ConditionName(row.expected)) << row.label;
    EXPECT_EQ(e.decision.effect, d.effect) << row.label;
  }
}

auto Nothing() {
  return [](Facts&) {};
}
auto Now(const char* t, std::chrono::microseconds delta = {}) {
  return [=](Facts& f) { f.request_time = At(t) + delta; };
}
auto Created(const char* t, std::chrono::microseconds delta = {}) {
  return [=](Facts& f) { f.asset_created_at = At(t) + delta; };
}

TEST(PolicyEvaluate, Operations) {
  ExpectRows("",
             {{"decrypt", Nothing(), C::kNone},
              {"encrypt", [](Facts& f) { f.operation = Operation::kEncrypt; }, C::kOperations}});
}

TEST(PolicyEvaluate, AssetTypesExactNeverFolded) {
  ExpectRows(
      R"("asset_types":["recording","webinar_recording"])",
      {{"listed", Nothing(), C::kNone},
       {"other listed", [](Facts& f) { f.asset_type = "webinar_recording"; }, C::kNone},
       {"uppercase", [](Facts& f) { f.asset_type = "Recording"; }, C::kAssetTypes},
       {"trailing space", [](Facts& f) { f.asset_type = "recording "; }, C::kAssetTypes},
       {"zero width", [](Facts& f) { f.asset_type = "recording\xE2\x80\x8B"; }, C::kAssetTypes},
       {"prefix of listed", [](Facts& f) { f.asset_type = "record"; }, C::kAssetTypes},
       {"empty", [](Facts& f) { f.asset_type = ""; }, C::kAssetTypes}});
}

auto Id(const char* id) {
  return [=](Facts& f) { f.asset_id = id; };
}

TEST(PolicyEvaluate, AssetIdPlainPrefixMatchesSiblingsByDesign) {
  // `mtg-4*` is a byte prefix: it covers mtg-4, mtg-42/..., mtg-4/....
  ExpectRows(R"("asset_ids":["mtg-4*"])", {{"itself", Id("mtg-4"), C::kNone},
                                           {"sibling mtg-42/", Id("mtg-42/"), C::kNone},
                                           {"child", Id("mtg-4/a"), C::kNone},
                                           {"shorter", Id("mtg-"), C::kAssetIds},
                                           {"uppercase", Id("MTG-4/a"), C::kAssetIds}});
}

TEST(PolicyEvaluate, AssetIdPathPrefixExcludesSiblings) {
  ExpectRows(R"("asset_ids":["mtg-4/*"])", {{"child", Id("mtg-4/a"), C::kNone},
                                            {"deep child", Id("mtg-4/a/b"), C::kNone},
                                            {"sibling mtg-42/", Id("mtg-42/"), C::kAssetIds},
                                            {"sibling mtg-42/x", Id("mtg-42/x"), C::kAssetIds},
                                            {"folder itself", Id("mtg-4"), C::kAssetIds}});
}

TEST(PolicyEvaluate, AssetIdExactAndMixed) {
  ExpectRows(R"("asset_ids":["mtg-4","board/*"])",
             {{"exact", Id("mtg-4"), C::kNone},
              {"exact is not a prefix", Id("mtg-42/"), C::kAssetIds},
              {"exact is not a prefix (child)", Id("mtg-4/a"), C::kAssetIds},
              {"prefix", Id("board/x"), C::kNone}});
  ExpectRows(R"("asset_ids":["*"])", {{"lone star matches any", Id("anything"), C::kNone}});
}

TEST(PolicyEvaluate, PrincipalsAndRoles) {
  ExpectRows(R"("principals":["alice","bob"])",
             {{"listed", Nothing(), C::kNone},
              {"other", [](Facts& f) { f.principal = "mallory"; }, C::kPrincipals},
              {"case differs", [](Facts& f) { f.principal = "Alice"; }, C::kPrincipals}});
  ExpectRows(R"("roles":["decrypt","admin"])",
             {{"has decrypt", Nothing(), C::kNone},
              {"has admin", [](Facts& f) { f.roles = kRoleAdmin; }, C::kNone},
              {"encrypt only", [](Facts& f) { f.roles = kRoleEncrypt; }, C::kRoles},
              {"none", [](Facts& f) { f.roles = 0; }, C::kRoles}});
}

TEST(PolicyEvaluate, CreatedBetweenStartInclusiveEndExclusive) {
  ExpectRows(R"("created_between":{"start":"2026-01-01T00:00:00Z","end":"2026-04-01T00:00:00Z"})",
             {{"equal to start", Created("2026-01-01T00:00:00Z"), C::kNone},
              {"tick before start", Created("2026-01-01T00:00:00Z", -kTick), C::kCreatedBetween},
              {"tick before end", Created("2026-04-01T00:00:00Z", -kTick), C::kNone},
              {"equal to end", Created("2026-04-01T00:00:00Z"), C::kCreatedBetween}});
  ExpectRows(R"("created_between":{"end":"2026-04-01T00:00:00Z"})",
             {{"long before", Created("1990-01-01T00:00:00Z"), C::kNone},
              {"equal to end", Created("2026-04-01T00:00:00Z"), C::kCreatedBetween}});
  ExpectRows(R"("created_between":{"start":"2026-01-01T00:00:00Z"})",
             {{"far after", Created("2099-01-01T00:00:00Z"), C::kNone},
              {"tick before start", Created("2026-01-01T00:00:00Z", -kTick), C::kCreatedBetween}});
}

TEST(PolicyEvaluate, CreatedOlderAndNewerThanAreComplements) {
  // BaseFacts: created 2026-01-10T00:00Z; 90 days later is 2026-04-10T00:00Z.
  ExpectRows(R"("created_older_than":"P90D")",
             {{"exactly 90 days", Now("2026-04-10T00:00:00Z"), C::kNone},
              {"a tick less", Now("2026-04-10T00:00:00Z", -kTick), C::kCreatedOlderThan},
              {"created in the future", Now("2026-01-09T00:00:00Z"), C::kCreatedOlderThan}});
  ExpectRows(R"("created_newer_than":"P90D")",
             {{"exactly 90 days", Now("2026-04-10T00:00:00Z"), C::kCreatedNewerThan},
              {"a tick less", Now("2026-04-10T00:00:00Z", -kTick), C::kNone},
              {"created in the future", Now("2026-01-09T00:00:00Z"), C::kNone}});
  ExpectRows(R"("created_older_than":"PT36H","created_newer_than":"P2D")",
             {{"36h", Now("2026-01-11T12:00:00Z"), C::kNone},
              {"36h less a tick", Now("2026-01-11T12:00:00Z", -kTick), C::kCreatedOlderThan},
              {"48h less a tick", Now("2026-01-12T00:00:00Z", -kTick), C::kNone},
              {"48h", Now("2026-01-12T00:00:00Z"), C::kCreatedNewerThan}});
}

TEST(PolicyEvaluate, NotBeforeNotAfterStartInclusiveEndExclusive) {
  ExpectRows(R"("not_before":"2026-05-01T00:00:00Z","not_after":"2026-06-01T00:00:00Z")",
             {{"equal to not_before", Now("2026-05-01T00:00:00Z"), C::kNone},
              {"tick before not_before", Now("2026-05-01T00:00:00Z", -kTick), C::kNotBefore},
              {"tick before not_after", Now("2026-06-01T00:00:00Z", -kTick), C::kNone},
              {"equal to not_after", Now("2026-06-01T00:00:00Z"), C::kNotAfter}});
}

TEST(PolicyEvaluate, CombinedConditionsAllMustHold) {
  ExpectRows(
      R"("asset_types":["recording"],"asset_ids":["mtg-4/*"],"principals":["alice"],)"
      R"("roles":["decrypt"],"created_older_than":"P30D","not_before":"2026-01-01T00:00:00Z",)"
      R"("within_windows":[{"days":["mon"],"start":"09:00","end":"17:00","time_zone":"UTC"}])",
      {{"all hold", Id("mtg-4/a"), C::kNone},
       {"asset id fails", Id("mtg-42/a"), C::kAssetIds},
       {"type fails first",
        [](Facts& f) {
          f.asset_type = "x";
          f.asset_id = "y";
        },
        C::kAssetTypes},
       {"principal fails",
        [](Facts& f) {
          f.asset_id = "mtg-4/a";
          f.principal = "bob";
        },
        C::kPrincipals},
       {"too young",
        [](Facts& f) {
          f.asset_id = "mtg-4/a";
          f.asset_created_at = f.request_time;
        },
        C::kCreatedOlderThan},
       {"outside the window",
        [](Facts& f) {
          f.asset_id = "mtg-4/a";
          f.request_time = At("2026-03-02T17:00:00Z");
        },
        C::kWithinWindows}});
}

TEST(PolicyEvaluate, DenyOverridesAllowWhateverTheOrder) {
  const CompiledPolicy policy = Compile(R"({"default":"allow","rules":[
    {"id":"allow-all","effect":"allow","operations":["decrypt","encrypt"]},
    {"id":"allow-rec","effect":"allow","operations":["decrypt"],"asset_types":["recording"]},
    {"id":"deny-rec","effect":"deny","operations":["decrypt"],"asset_types":["recording"]},
    {"id":"deny-mtg","effect":"deny","operations":["decrypt"],"asset_ids":["mtg-*"]}]})");
  Facts f = BaseFacts();
  Decision d = policy.Evaluate(f);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "deny-rec");  // the first matching deny in document order
  f.asset_type = "notes";
  d = policy.Evaluate(f);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "deny-mtg");
  f.asset_id = "other";
  d = policy.Evaluate(f);
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_EQ(d.rule_id, "allow-all");  // the first matching allow
  f.operation = Operation::kEncrypt;
  f.asset_type = "recording";
  f.asset_id = "mtg-1";
  d = policy.Evaluate(f);
  EXPECT_EQ(d.effect, Effect::kAllow);  // the denies name decrypt only
  EXPECT_EQ(d.rule_id, "allow-all");

  const Explanation e = policy.Explain(BaseFacts());
  ASSERT_EQ(e.rules.size(), 4u);
  EXPECT_TRUE(e.rules[0].matched);
  EXPECT_TRUE(e.rules[1].matched);
  EXPECT_TRUE(e.rules[2].matched);
  EXPECT_TRUE(e.rules[3].matched);
  EXPECT_EQ(e.decision.rule_id, "deny-rec");
}

TEST(PolicyEvaluate, DefaultAppliesWhenNothingMatches) {
  for (const auto& [effect_text, effect] :
       {std::pair{"allow", Effect::kAllow}, std::pair{"deny", Effect::kDeny}}) {
    CompiledPolicy policy =
        Compile(std::string(R"({"default":")") + effect_text +
                R"(","rules":[{"id":"a","effect":"allow","operations":["encrypt"]},)"
                R"({"id":"d","effect":"deny","operations":["decrypt"],"asset_types":["x"]}]})");
    policy.SetVersion(42, At("2026-12-01T00:00:00Z"));
    const Decision d = policy.Evaluate(BaseFacts());
    EXPECT_EQ(d.effect, effect) << effect_text;
    EXPECT_EQ(d.rule_id, kDefaultRuleId) << effect_text;
    EXPECT_EQ(d.policy_version, 42u) << effect_text;
  }
  const CompiledPolicy empty = Compile(R"({"default":"deny","rules":[]})");
  EXPECT_EQ(empty.Evaluate(BaseFacts()).effect, Effect::kDeny);
  EXPECT_EQ(empty.Evaluate(BaseFacts()).rule_id, "default");
}

TEST(PolicyEvaluate, DecisionNamesVersionOfDecidingPolicy) {
  CompiledPolicy policy = Compile(
      R"({"default":"allow","rules":[{"id":"d","effect":"deny","operations":["decrypt"]}]})");
  policy.SetVersion(3, At("2026-12-01T00:00:00Z"));
  const Decision d = policy.Evaluate(BaseFacts());
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.rule_id, "d");
  EXPECT_EQ(d.policy_version, 3u);
  EXPECT_FALSE(d.allowed());
}

}  // namespace
}  // namespace kmsd::policy
