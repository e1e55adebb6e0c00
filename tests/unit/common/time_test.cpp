#include "common/time.h"

#include <gtest/gtest.h>

namespace kmsd {
namespace {

TEST(Rfc3339Test, ParsesUtcAndOffsetsToSameInstant) {
  const auto utc = ParseRfc3339("2026-03-29T01:00:00Z");
  const auto berlin = ParseRfc3339("2026-03-29T03:00:00+02:00");
  const auto west = ParseRfc3339("2026-03-28T20:30:00-04:30");
  ASSERT_TRUE(utc && berlin && west);
  EXPECT_EQ(*utc, *berlin);
  EXPECT_EQ(*utc, *west);
  EXPECT_EQ(ToUnixMicros(*utc), 1774746000LL * 1000000);
}

TEST(Rfc3339Test, FractionKeepsMicrosecondsAndTruncatesBeyond) {
  const auto t = ParseRfc3339("1970-01-01T00:00:01.123456789Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(ToUnixMicros(*t), 1123456);
}

TEST(Rfc3339Test, FormatIsCanonical) {
  EXPECT_EQ(FormatRfc3339(FromUnixMicros(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMicros(1774746000123000)), "2026-03-29T01:00:00.123000Z");
  const auto round = ParseRfc3339(FormatRfc3339(FromUnixMicros(1774746000123456)));
  ASSERT_TRUE(round);
  EXPECT_EQ(ToUnixMicros(*round), 1774746000123456);
}

TEST(Rfc3339Test, RejectsMalformedText) {
  for (const char* bad :
       {"", "2026-03-29", "2026-03-29T01:00:00", "2026-03-29 01:00:00Z", "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00z",
        "2026-01-01t00:00:00Z", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.1234567890Z",
        "+2026-01-01T00:00:00Z"}) {
    const auto parsed = ParseRfc3339(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

// An offset must not carry the UTC instant out of years 0001-9999: its
// canonical text would not parse again (a stored policy did not reload).
TEST(Rfc3339Test, OffsetsThatLeaveTheYearRangeAreRefused) {
  for (const char* beyond : {"9999-12-31T23:59:59-00:01", "9999-12-31T23:30:00-23:59",
                             "0001-01-01T00:00:00+00:01", "0001-01-01T00:59:59.999999+01:00"}) {
    EXPECT_FALSE(ParseRfc3339(beyond)) << beyond;
  }
  for (const char* edge : {"9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z",
                           "0001-01-01T01:00:00+01:00", "9999-12-31T22:59:59-01:00"}) {
    const auto parsed = ParseRfc3339(edge);
    ASSERT_TRUE(parsed) << edge;
    const auto again = ParseRfc3339(FormatRfc3339(*parsed));
    ASSERT_TRUE(again) << FormatRfc3339(*parsed);
    EXPECT_EQ(*again, *parsed);
  }
}

}  // namespace
}  // namespace kmsd
