// Parsing and validation of policy documents, and their canonical serialization.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::At;
using testing::Compile;
using P = ProblemCode;

std::vector<Problem> ProblemsOf(std::string_view json) {
  auto result = ParsePolicyDocument(json);
  if (result) return {};
  EXPECT_EQ(result.error().error.code, ErrorCode::kInvalidArgument);
  return result.error().problems;
}

// A one-rule document around the given rule fields.
std::string OneRule(std::string_view fields) {
  return R"({"default":"allow","rules":[{"id":"r","effect":"deny","operations":["decrypt"],)" +
         std::string(fields) + "}]}";
}

TEST(PolicyDocument, MinimalDocumentsParse) {
  auto empty = ParsePolicyDocument(R"({"default":"deny","rules":[]})");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->default_effect(), Effect::kDeny);
  EXPECT_EQ(empty->rule_count(), 0u);
  auto one = ParsePolicyDocument(OneRule(R"("asset_types":["recording"])"));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->rule_count(), 1u);
}

struct Rejected {
  const char* label;
  std::string json;
  std::vector<Problem> expected;
};

TEST(PolicyDocument, RejectsEachProblemWithItsPath) {
  const Rejected kCases[] = {
      {"not json", "{", {{"", P::kMalformedJson}}},
      {"empty text", "", {{"", P::kMalformedJson}}},
      {"trailing comma", R"({"default":"allow","rules":[],})", {{"", P::kMalformedJson}}},
      {"not an object", "[]", {{"", P::kNotAnObject}}},
      {"duplicate root key",
       R"({"default":"allow","default":"deny","rules":[]})",
       {{"default", P::kDuplicateKey}}},
      {"duplicate key in rule",
       R"({"default":"allow","rules":[{"id":"a","effect":"deny","operations":["decrypt"]},)"
       R"({"id":"b","effect":"deny","effect":"allow","operations":["decrypt"]}]})",
       {{"rules[1].effect", P::kDuplicateKey}}},
      {"duplicate unknown key: name not echoed",
       R"({"default":"allow","rules":[{"secret":1,"secret":2}]})",
       {{"rules[0]", P::kDuplicateKey}}},
      {"missing default and rules",
       "{}",
       {{"default", P::kMissingField}, {"rules", P::kMissingField}}},
      {"unknown root field",
       R"({"default":"allow","rules":[],"extra":1})",
       {{"", P::kUnknownField}}},
      {"bad default", R"({"default":"Allow","rules":[]})", {{"default", P::kInvalidEffect}}},
      {"rules wrong type", R"({"default":"allow","rules":{}})", {{"rules", P::kWrongType}}},
      {"negative version",
       R"({"version":-1,"default":"allow","rules":[]})",
       {{"version", P::kInvalidVersion}}},
      {"bad updated_at",
       R"({"updated_at":"yesterday","default":"allow","rules":[]})",
       {{"updated_at", P::kInvalidInstant}}},
      {"rule not an object", R"({"default":"allow","rules":[1]})", {{"rules[0]", P::kNotAnObject}}},
      {"rule missing fields",
       R"({"default":"allow","rules":[{}]})",
       {{"rules[0].id", P::kMissingField},
        {"rules[0].effect", P::kMissingField},
        {"rules[0].operations", P::kMissingField}}},
      {"unknown rule field", OneRule(R"("asset_type":["x"])"), {{"rules[0]", P::kUnknownField}}},
      {"empty operations",
       R"({"default":"allow","rules":[{"id":"r","effect":"deny","operations":[]}]})",
       {{"rules[0].operations", P::kEmptyList}}},
      {"bad operation and effect",
       R"({"default":"allow","rules":[{"id":"r","effect":"block","operations":["read"]}]})",
       {{"rules[0].effect", P::kInvalidEffect}, {"rules[0].operations[0]", P::kInvalidOperation}}},
      {"reserved rule id",
       R"({"default":"allow","rules":[{"id":"default","effect":"deny","operations":["decrypt"]}]})",
       {{"rules[0].id", P::kInvalidRuleId}}},
      {"uppercase rule id",
       R"({"default":"allow","rules":[{"id":"Freeze","effect":"deny","operations":["decrypt"]}]})",
       {{"rules[0].id", P::kInvalidRuleId}}},
      {"duplicate rule id",
       R"({"default":"allow","rules":[{"id":"r","effect":"deny","operations":["decrypt"]},)"
       R"({"id":"r","effect":"allow","operations":["encrypt"]}]})",
       {{"rules[1].id", P::kDuplicateRuleId}}},
      {"duplicate rule id beside another problem of that rule",
       R"({"default":"allow","rules":[{"id":"x","effect":"allow","operations":["encrypt"]},)"
       R"({"id":"x","effect":"allow","operations":["encrypt","encrypt"]}]})",
       {{"rules[1].id", P::kDuplicateRuleId}, {"rules[1].operations[1]", P::kDuplicateValue}}},
      {"empty asset types",
       OneRule(R"("asset_types":[])"),
       {{"rules[0].asset_types", P::kEmptyList}}},
      {"asset type wrong type",
       OneRule(R"("asset_types":"recording")"),
       {{"rules[0].asset_types", P::kWrongType}}},
      {"asset type element wrong type",
       OneRule(R"("asset_types":["a",7])"),
       {{"rules[0].asset_types[1]", P::kWrongType}}},
      {"duplicate asset type",
       OneRule(R"("asset_types":["a","a"])"),
       {{"rules[0].asset_types[1]", P::kDuplicateValue}}},
      {"asset type tricks",
       OneRule(R"("asset_types":["Recording","rec\uFF41rding","recording\u200B","recording "])"),
       {{"rules[0].asset_types[0]", P::kInvalidAssetType},
        {"rules[0].asset_types[1]", P::kInvalidAssetType},
        {"rules[0].asset_types[2]", P::kInvalidAssetType},
        {"rules[0].asset_types[3]", P::kInvalidAssetType}}},
      {"asset id star inside",
       OneRule(R"("asset_ids":["a*b","ok","a b"])"),
       {{"rules[0].asset_ids[0]", P::kInvalidAssetId},
        {"rules[0].asset_ids[2]", P::kInvalidAssetId}}},
      {"bad role and principal",
       OneRule(R"("roles":["root"],"principals":[""])"),
       {{"rules[0].principals[0]", P::kInvalidPrincipal}, {"rules[0].roles[0]", P::kInvalidRole}}},
      {"created_between start = end",
       OneRule(
           R"("created_between":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00+01:00"})"),
       {{"rules[0].created_between", P::kEmptyInterval}}},
      {"created_between start after end",
       OneRule(
           R"("created_between":{"start":"2026-02-01T00:00:00Z","end":"2026-01-01T00:00:00Z"})"),
       {{"rules[0].created_between", P::kEmptyInterval}}},
      {"created_between bad instants and unknown field",
       OneRule(R"("created_between":{"start":"2026-01-01","end":"2026-13-01T00:00:00Z","x":1})"),
       {{"rules[0].created_between", P::kUnknownField},
        {"rules[0].created_between.start", P::kInvalidInstant},
        {"rules[0].created_between.end", P::kInvalidInstant}}},
      {"created_between without bounds",
       OneRule(R"("created_between":{})"),
       {{"rules[0].created_between", P::kMissingBound}}},
      {"durations",
       OneRule(R"("created_older_than":"P3M","created_newer_than":"90 days")"),
       {{"rules[0].created_older_than", P::kUnsupportedDurationUnit},
        {"rules[0].created_newer_than", P::kInvalidDuration}}},
      {"older than not below newer than",
       OneRule(R"("created_older_than":"P90D","created_newer_than":"P30D")"),
       {{"rules[0].created_newer_than", P::kEmptyInterval}}},
      {"not_before not before not_after",
       OneRule(R"("not_before":"2026-05-01T00:00:00Z","not_after":"2026-05-01T00:00:00Z")"),
       {{"rules[0].not_after", P::kEmptyInterval}}},
      {"empty windows list",
       OneRule(R"("within_windows":[])"),
       {{"rules[0].within_windows", P::kEmptyList}}},
      {"window problems",
       OneRule(R"("outside_windows":[{"days":["mon","Tue"],"start":"08:00","end":"08:00",)"
               R"("time_zone":"Europe/Berlin"},{"days":[],"start":"24:00","end":"25:00",)"
               R"("time_zone":"Mars/Olympus_Mons"},{"days":["sun"],"start":"01:00",)"
               R"("end":"02:00","time_zone":"../../etc/passwd","tz":1},{"days":["sat"],)"
               R"("start":"01:00","end":"02:00","time_zone":"localtime"}])"),
       {{"rules[0].outside_windows[0].days[1]", P::kInvalidDay},
        {"rules[0].outside_windows[0].end", P::kEmptyWindow},
        {"rules[0].outside_windows[1].days", P::kEmptyList},
        {"rules[0].outside_windows[1].start", P::kInvalidTimeOfDay},
        {"rules[0].outside_windows[1].end", P::kInvalidTimeOfDay},
        {"rules[0].outside_windows[1].time_zone", P::kUnknownTimeZone},
        {"rules[0].outside_windows[2]", P::kUnknownField},
        {"rules[0].outside_windows[2].time_zone", P::kUnknownTimeZone},
        {"rules[0].outside_windows[3].time_zone", P::kUnknownTimeZone}}},
      {"repeated windows, days in another order too",
       OneRule(R"("within_windows":[{"days":["mon","tue"],"start":"08:00","end":"09:00",)"
               R"("time_zone":"UTC"},{"days":["tue","mon"],"start":"08:00","end":"09:00",)"
               R"("time_zone":"UTC"},{"days":["mon"],"start":"08:00","end":"09:00",)"
               R"("time_zone":"UTC"}],"outside_windows":[{"days":["sun"],"start":"01:00",)"
               R"("end":"02:00","time_zone":"Europe/Berlin"},{"days":["sun"],"start":"01:00",)"
               R"("end":"02:00","time_zone":"Europe/Berlin"}])"),
       {{"rules[0].within_windows[1]", P::kDuplicateValue},
        {"rules[0].outside_windows[1]", P::kDuplicateValue}}},
      {"instants that an offset carries out of years 0001-9999",
       OneRule(R"("not_before":"9999-12-31T23:59:59-00:01","created_between":)"
               R"({"start":"0001-01-01T00:00:00+00:01","end":"2026-01-01T00:00:00Z"})"),
       {{"rules[0].created_between.start", P::kInvalidInstant},
        {"rules[0].not_before", P::kInvalidInstant}}},
      {"window missing fields",
       OneRule(R"("within_windows":[{}])"),
       {{"rules[0].within_windows[0].days", P::kMissingField},
        {"rules[0].within_windows[0].start", P::kMissingField},
        {"rules[0].within_windows[0].end", P::kMissingField},
        {"rules[0].within_windows[0].time_zone", P::kMissingField}}},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(ProblemsOf(c.json), c.expected) << c.label;
  }
}

TEST(PolicyDocument, ListsProblemsOfEveryRule) {
  const std::string json = R"({"default":"maybe","rules":[
    {"id":"ok","effect":"deny","operations":["decrypt"]},
    {"id":"bad type","effect":"deny","operations":["decrypt"],"asset_types":["Recording"]},
    {"id":"ok","effect":"allow","operations":["encrypt"],"created_older_than":"P1W"}]})";
  const std::vector<Problem> expected = {
      {"default", P::kInvalidEffect},
      {"rules[1].id", P::kInvalidRuleId},
      {"rules[1].asset_types[0]", P::kInvalidAssetType},
      {"rules[2].id", P::kDuplicateRuleId},  // listed although the rule has another problem
      {"rules[2].created_older_than", P::kUnsupportedDurationUnit},
  };
  EXPECT_EQ(ProblemsOf(json), expected);
}

TEST(PolicyDocument, TooManyRulesRejected) {
  std::string json = R"({"default":"allow","rules":[)";
  for (int i = 0; i < 1001; ++i) {
    json += (i ? "," : "") + std::string(R"({"id":"r)") + std::to_string(i) +
            R"(","effect":"deny","operations":["decrypt"]})";
  }
  json += "]}";
  EXPECT_EQ(ProblemsOf(json), (std::vector<Problem>{{"rules", P::kTooMany}}));
}

TEST(PolicyDocument, ProblemsNeverEchoDocumentBytes) {
  const std::string json =
      R"({"default":"allow","s3cr3t-field":1,"rules":[{"id":"s3cr3t-id!","effect":"s3cr3t",)"
      R"("operations":["s3cr3t"],"asset_types":["S3CR3T"],"within_windows":[{"days":["s3cr3t"],)"
      R"("start":"s3cr3t","end":"s3cr3t","time_zone":"S3cr3t/Zone"}]}]})";
  auto result = ParsePolicyDocument(json);
  ASSERT_FALSE(result);
  EXPECT_GE(result.error().problems.size(), 8u);
  EXPECT_EQ(result.error().error.message.find("3cr3t"), std::string::npos);
  for (const Problem& p : result.error().problems) {
    EXPECT_EQ(p.path.find("3cr3t"), std::string::npos) << p.path;
    EXPECT_EQ(ProblemMessage(p.code).find("3cr3t"), std::string_view::npos);
  }
}

constexpr std::string_view kDesignExample = R"({
  "default": "allow",
  "rules": [
    {"id": "no-webinars", "effect": "deny", "operations": ["decrypt"],
     "asset_types": ["webinar_recording"]},
    {"id": "q1-freeze", "effect": "deny", "operations": ["decrypt"],
     "created_between": {"start": "2026-01-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}},
    {"id": "retention", "effect": "deny", "operations": ["decrypt"],
     "asset_types": ["recording"], "created_older_than": "P90D"},
    {"id": "office-hours", "effect": "deny", "operations": ["decrypt"],
     "asset_ids": ["board/*"], "roles": ["decrypt"],
     "outside_windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                          "start": "08:00", "end": "18:00", "time_zone": "Europe/Berlin"}]}
  ]
})";

TEST(PolicyDocument, DesignExampleDecidesAsItsRuleNamesSay) {
  const CompiledPolicy policy = Compile(kDesignExample);
  struct Row {
    const char* label;
    Operation op;
    const char* type;
    const char* id;
    RoleSet roles;
    const char* created;
    const char* now;
    Effect effect;
    const char* rule;
  };
  const Row kRows[] = {
      {"webinar decrypt", Operation::kDecrypt, "webinar_recording", "w1", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", Effect::kDeny, "no-webinars"},
      {"webinar encrypt", Operation::kEncrypt, "webinar_recording", "w1", kRoleEncrypt,
       "2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", Effect::kAllow, "default"},
      {"created in Q1", Operation::kDecrypt, "other", "x", kRoleDecrypt, "2026-02-01T00:00:00Z",
       "2026-02-02T00:00:00Z", Effect::kDeny, "q1-freeze"},
      {"created at Q1 end", Operation::kDecrypt, "other", "x", kRoleDecrypt, "2026-04-01T00:00:00Z",
       "2026-04-02T00:00:00Z", Effect::kAllow, "default"},
      {"recording 90 days old", Operation::kDecrypt, "recording", "r", kRoleDecrypt,
       "2026-04-10T00:00:00Z", "2026-07-09T00:00:00Z", Effect::kDeny, "retention"},
      {"recording 90 days old less a tick", Operation::kDecrypt, "recording", "r", kRoleDecrypt,
       "2026-04-10T00:00:00Z", "2026-07-08T23:59:59.999999Z", Effect::kAllow, "default"},
      {"board on Saturday", Operation::kDecrypt, "minutes", "board/2026-05", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-02T10:00:00Z", Effect::kDeny, "office-hours"},
      {"board Monday 08:00 Berlin", Operation::kDecrypt, "minutes", "board/2026-05", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-04T06:00:00Z", Effect::kAllow, "default"},
      {"board Monday 07:59 Berlin", Operation::kDecrypt, "minutes", "board/2026-05", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-04T05:59:59Z", Effect::kDeny, "office-hours"},
      {"board Monday 18:00 Berlin", Operation::kDecrypt, "minutes", "board/2026-05", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-04T16:00:00Z", Effect::kDeny, "office-hours"},
      {"board on Saturday, admin role only", Operation::kDecrypt, "minutes", "board/2026-05",
       kRoleAdmin, "2026-05-01T00:00:00Z", "2026-05-02T10:00:00Z", Effect::kAllow, "default"},
      {"not board on Saturday", Operation::kDecrypt, "minutes", "boards/x", kRoleDecrypt,
       "2026-05-01T00:00:00Z", "2026-05-02T10:00:00Z", Effect::kAllow, "default"},
  };
  for (const Row& r : kRows) {
    Facts f = testing::BaseFacts();
    f.operation = r.op;
    f.asset_type = r.type;
    f.asset_id = r.id;
    f.roles = r.roles;
    f.asset_created_at = At(r.created);
    f.request_time = At(r.now);
    const Decision d = policy.Evaluate(f);
    EXPECT_EQ(d.effect, r.effect) << r.label;
    EXPECT_EQ(d.rule_id, r.rule) << r.label;
  }
}

TEST(PolicyDocument, SerializesCanonicallyAndRoundTrips) {
  const std::string json = R"({"rules":[{"operations":["decrypt"],"effect":"deny","id":"q",)"
                           R"("not_before":"2026-01-01T01:00:00+01:00",)"
                           R"("within_windows":[{"time_zone":"Asia/Kathmandu","end":"06:00",)"
                           R"("start":"22:00","days":["fri"]}]}],"default":"allow"})";
  CompiledPolicy policy = Compile(json);
  policy.SetVersion(7, At("2026-12-03T18:00:00Z"));
  const std::string text = SerializePolicy(policy);
  EXPECT_EQ(text, R"({"version":7,"updated_at":"2026-12-03T18:00:00Z","default":"allow","rules":[)"
                  R"({"id":"q","effect":"deny","operations":["decrypt"],)"
                  R"("not_before":"2026-01-01T00:00:00Z","within_windows":[{"days":["fri"],)"
                  R"("start":"22:00","end":"06:00","time_zone":"Asia/Kathmandu"}]}]})");
  // GET output may be PUT back: it parses, keeps the version it carried, and
  // serializes to the same text.
  CompiledPolicy again = Compile(text);
  EXPECT_EQ(again.submitted_version(), 7u);
  again.SetVersion(7, At("2026-12-03T18:00:00Z"));
  EXPECT_EQ(SerializePolicy(again), text);
  EXPECT_FALSE(policy.submitted_version());
}

TEST(PolicyDocument, DesignExampleRoundTrips) {
  CompiledPolicy policy = Compile(kDesignExample);
  const std::string text = SerializePolicy(policy);
  CompiledPolicy again = Compile(text);
  EXPECT_EQ(SerializePolicy(again), text);
  EXPECT_EQ(boost::json::parse(text).at("rules").as_array().size(), 4u);
}

}  // namespace
}  // namespace kmsd::policy
