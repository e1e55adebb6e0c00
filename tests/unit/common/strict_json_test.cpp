#include "common/json/strict_json.h"

#include <gtest/gtest.h>

namespace kmsd::json {
namespace {

TEST(StrictJsonTest, AcceptsWellFormedDocument) {
  const auto value = ParseStrictJson(R"({"a": [1, {"b": "x"}], "c": {"a": null}})");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->at("a").as_array().size(), 2u);
}

TEST(StrictJsonTest, SameKeyInDifferentObjectsIsFine) {
  EXPECT_TRUE(ParseStrictJson(R"({"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]})"));
}

TEST(StrictJsonTest, RejectsDuplicateKeysAtAnyDepth) {
  for (const char* bad :
       {R"({"a": 1, "a": 2})", R"({"x": {"a": 1, "a": 1}})", R"([{"k": 1}, {"k": 1, "k": 2}])",
        R"({"a\u0062": 1, "ab": 2})"}) {  // escapes are decoded first
    const auto value = ParseStrictJson(bad);
    ASSERT_FALSE(value) << bad;
    EXPECT_EQ(value.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(StrictJsonTest, RejectsMalformedInput) {
  for (const std::string& bad :
       {std::string(""), std::string("{"), std::string(R"({"a": 1,})"), std::string("[1, 2,]"),
        std::string("{\"a\": 1} // c"), std::string("{'a': 1}"), std::string("{\"a\": 1} {}"),
        std::string("{\"a\": \"\xff\xfe\"}"), std::string("{\"a\": \"\xc0\xaf\"}"),
        std::string("{\"a\": \"\xed\xa0\x80\"}")}) {
    const auto value = ParseStrictJson(bad);
    EXPECT_FALSE(value) << bad;
    EXPECT_FALSE(IsStrictJson(bad)) << bad;
  }
}

// The check without a document agrees with the parser, also on what follows
// a document (whitespace only) and on raw control characters in strings.
TEST(StrictJsonTest, IsStrictJsonAgreesWithTheParser) {
  for (const std::string& good : {std::string(R"({"a": [1, {"b": "x"}]})"), std::string("{} \n"),
                                  std::string("[]"), std::string(R"("\u001b")")}) {
    EXPECT_TRUE(ParseStrictJson(good)) << good;
    EXPECT_TRUE(IsStrictJson(good)) << good;
  }
  for (const std::string& bad :
       {std::string(R"({"a": 1, "a": 2})"), std::string("<html>"), std::string("{} x"),
        std::string("\"a\x1b[31m\""), std::string("{\"a\": \"line\nbreak\"}")}) {
    EXPECT_FALSE(ParseStrictJson(bad)) << bad;
    EXPECT_FALSE(IsStrictJson(bad)) << bad;
  }
}

TEST(StrictJsonTest, RejectsNestingBeyondLimit) {
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  EXPECT_FALSE(ParseStrictJson(deep, 32));
  EXPECT_TRUE(ParseStrictJson(deep, 64));
}

}  // namespace
}  // namespace kmsd::json
