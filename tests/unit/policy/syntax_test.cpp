// The small textual forms: durations, times of day, days, names, asset ids.
#include "policy/syntax.h"

#include <gtest/gtest.h>

#include "policy/policy.h"

namespace kmsd::policy::detail {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(PolicyDuration, AcceptsDaysHoursMinutesSeconds) {
  const struct {
    const char* text;
    microseconds expected;
  } kCases[] = {
      {"P90D", days(90)},
      {"PT36H", hours(36)},
      {"P1DT2H", days(1) + hours(2)},
      {"PT90M", minutes(90)},
      {"PT1S", seconds(1)},
      {"P1DT2H3M4S", days(1) + hours(2) + minutes(3) + seconds(4)},
      {"P0DT1S", seconds(1)},
      {"P365000D", days(365000)},
  };
  for (const auto& c : kCases) {
    auto d = ParseDuration(c.text);
    ASSERT_TRUE(d) << c.text;
    EXPECT_EQ(*d, c.expected) << c.text;
  }
}

TEST(PolicyDuration, RejectsCalendarUnitsAsUnsupported) {
  for (const char* text : {"P1Y", "P3M", "P2W", "P1Y2D", "P1M2D"}) {
    auto d = ParseDuration(text);
    ASSERT_FALSE(d) << text;
    EXPECT_EQ(d.error(), ProblemCode::kUnsupportedDurationUnit) << text;
  }
}

TEST(PolicyDuration, RejectsMalformed) {
  for (const char* text :
       {"",     "P",        "PT",           "P1DT",  "90D",   "p90d",       "P90d",   "-P1D",
        "P-1D", "P1.5D",    "PT1.5S",       "P1H",   "PT1D",  "P1D1D",      "PT1M1H", "P0D",
        "PT0S", "P365001D", "P1234567890D", "P90D ", " P90D", "P1DT2H3M4S5"}) {
    auto d = ParseDuration(text);
    ASSERT_FALSE(d) << text;
    EXPECT_EQ(d.error(), ProblemCode::kInvalidDuration) << text;
  }
}

TEST(PolicyTimeOfDay, ParsesMinutesAndAllows2400OnlyAsEnd) {
  EXPECT_EQ(*ParseTimeOfDay("00:00", false), 0);
  EXPECT_EQ(*ParseTimeOfDay("08:30", false), 510);
  EXPECT_EQ(*ParseTimeOfDay("23:59", false), 1439);
  EXPECT_EQ(*ParseTimeOfDay("24:00", true), 1440);
  for (const char* text : {"24:00", "24:01", "8:00", "08:0", "08:60", "25:00", "0800", "08-00",
                           "08:00:00", "", "ab:cd"}) {
    auto t = ParseTimeOfDay(text, false);
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error(), ProblemCode::kInvalidTimeOfDay) << text;
  }
  EXPECT_FALSE(ParseTimeOfDay("24:01", true));
}

TEST(PolicyDay, IsoOrderLowercaseOnly) {
  EXPECT_EQ(*ParseDay("mon"), 0);
  EXPECT_EQ(*ParseDay("sun"), 6);
  for (const char* text : {"Mon", "MON", "monday", "mo", "", "sun "}) {
    auto d = ParseDay(text);
    ASSERT_FALSE(d) << text;
    EXPECT_EQ(d.error(), ProblemCode::kInvalidDay);
  }
}

TEST(PolicyAssetType, CanonicalFormOnlyNeverFolded) {
  for (const char* ok : {"recording", "webinar_recording", "a", "v1.2-x_y", "0"}) {
    EXPECT_TRUE(IsValidAssetType(ok)) << ok;
  }
  EXPECT_TRUE(IsValidAssetType(std::string(64, 'a')));
  const char* kTricks[] = {
      "Recording",              // uppercase
      "RECORDING",              //
      "rec\xEF\xBD\x81rding",   // U+FF41 FULLWIDTH LATIN SMALL LETTER A
      "recording\xE2\x80\x8B",  // U+200B ZERO WIDTH SPACE
      "recording ",             // trailing space
      " recording",             //
      "recording\t",            //
      "",                       //
      "rec/ording",             //
      "rec*",                   //
  };
  for (const char* bad : kTricks) EXPECT_FALSE(IsValidAssetType(bad)) << bad;
  EXPECT_FALSE(IsValidAssetType(std::string(65, 'a')));
}

TEST(PolicyAssetId, VisibleAsciiWithoutStar) {
  EXPECT_TRUE(IsValidAssetId("mtg-42/part1"));
  EXPECT_TRUE(IsValidAssetId("Board/2026-01-07:x@y"));
  EXPECT_TRUE(IsValidAssetId(std::string(256, 'x')));
  EXPECT_FALSE(IsValidAssetId(std::string(257, 'x')));
  for (const char* bad : {"", "a b", "mtg*", "*", "x\xE2\x80\x8B", "tab\t", "caf\xC3\xA9"}) {
    EXPECT_FALSE(IsValidAssetId(bad)) << bad;
  }
}

TEST(PolicyAssetIdPattern, StarOnlyTrailing) {
  for (const char* ok : {"mtg-4*", "mtg-4/*", "board/2026", "*"}) {
    EXPECT_TRUE(IsValidAssetIdPattern(ok)) << ok;
  }
  for (const char* bad : {"mtg-*4", "**", "mtg**", "*mtg", "", "a b*"}) {
    EXPECT_FALSE(IsValidAssetIdPattern(bad)) << bad;
  }
}

TEST(PolicyPrincipal, VisibleAscii) {
  EXPECT_TRUE(IsValidPrincipal("alice@example.com"));
  EXPECT_TRUE(IsValidPrincipal("service:media-01"));
  for (const char* bad : {"", "alice ", "al ice", "\xC3\xA9"}) {
    EXPECT_FALSE(IsValidPrincipal(bad)) << bad;
  }
}

}  // namespace
}  // namespace kmsd::policy::detail
