// The evaluate dry run's JSON: facts in, explanation out.
#include "policy/facts_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::At;
using P = ProblemCode;

TEST(PolicyFactsJson, ParsesAndExplains) {
  auto facts = ParseFactsDocument(
      R"({"operation":"decrypt","principal":"alice","roles":["decrypt","admin"],)"
      R"("asset_type":"recording","asset_id":"board/7","asset_created_at":"2026-05-01T00:00:00Z",)"
      R"("request_time":"2026-05-02T10:00:00Z"})");
  ASSERT_TRUE(facts);
  EXPECT_EQ(facts->roles, kRoleDecrypt | kRoleAdmin);
  const Facts f = facts->View(At("2030-01-01T00:00:00Z"));
  EXPECT_EQ(f.request_time, At("2026-05-02T10:00:00Z"));  // the document's time wins

  CompiledPolicy policy = testing::Compile(R"({"default":"allow","rules":[
    {"id":"no-webinars","effect":"deny","operations":["decrypt"],"asset_types":["webinar"]},
    {"id":"weekend","effect":"deny","operations":["decrypt"],"asset_ids":["board/*"],
     "within_windows":[{"days":["sat","sun"],"start":"00:00","end":"24:00","time_zone":"UTC"}]}]})");
  policy.SetVersion(5, At("2026-05-01T00:00:00Z"));
  const boost::json::value out = boost::json::parse(ExplanationToJson(policy.Explain(f)));
  EXPECT_EQ(out.at("effect"), "deny");
  EXPECT_EQ(out.at("rule"), "weekend");
  EXPECT_EQ(out.at("policy_version"), 5);
  const auto& rules = out.at("rules").as_array();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].at("id"), "no-webinars");
  EXPECT_EQ(rules[0].at("matched"), false);
  EXPECT_EQ(rules[0].at("failed_condition"), "asset_types");
  EXPECT_EQ(rules[1].at("matched"), true);
  EXPECT_FALSE(rules[1].as_object().contains("failed_condition"));
}

TEST(PolicyFactsJson, RequestTimeDefaultsToCallersNow) {
  auto facts = ParseFactsDocument(
      R"({"operation":"encrypt","principal":"p","roles":[],"asset_type":"t","asset_id":"i",)"
      R"("asset_created_at":"2026-05-01T00:00:00Z"})");
  ASSERT_TRUE(facts);
  EXPECT_FALSE(facts->request_time);
  EXPECT_EQ(facts->View(At("2026-06-01T00:00:00Z")).request_time, At("2026-06-01T00:00:00Z"));
  EXPECT_EQ(facts->View(At("2026-06-01T00:00:00Z")).operation, Operation::kEncrypt);
  EXPECT_EQ(facts->roles, 0);
}

TEST(PolicyFactsJson, ListsEveryProblem) {
  auto facts = ParseFactsDocument(
      R"({"operation":"read","principal":"","roles":["root",1],"asset_type":"Recording",)"
      R"("asset_id":"a*","asset_created_at":"yesterday","extra":true})");
  ASSERT_FALSE(facts);
  const std::vector<Problem> expected = {
      {"", P::kUnknownField},
      {"operation", P::kInvalidOperation},
      {"principal", P::kInvalidPrincipal},
      {"roles[0]", P::kInvalidRole},
      {"roles[1]", P::kWrongType},
      {"asset_type", P::kInvalidAssetType},
      {"asset_id", P::kInvalidAssetIdValue},
      {"asset_created_at", P::kInvalidInstant},
  };
  EXPECT_EQ(facts.error().problems, expected);
  // A fact is one asset id, not a pattern: its message must not invite a '*'.
  EXPECT_EQ(ProblemCodeName(P::kInvalidAssetIdValue), "invalid_asset_id");
  EXPECT_THAT(std::string(ProblemMessage(P::kInvalidAssetIdValue)), ::testing::HasSubstr("no '*'"));
  EXPECT_EQ(ParseFactsDocument("{}").error().problems.size(), 6u);  // all required fields
  EXPECT_EQ(ParseFactsDocument(R"({"operation":"decrypt","operation":"encrypt"})").error().problems,
            (std::vector<Problem>{{"", P::kDuplicateKey}}));
}

}  // namespace
}  // namespace kmsd::policy
