#include "broker/store/context_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace kmsd::store {
namespace {

// 2026-03-29T01:00:00.123456Z
const Instant kNow = FromUnixMicros(1774746000123456);

class FixedClock final : public Clock {
 public:
  explicit FixedClock(Instant now) : now_(now) {}
  Instant Now() const override { return now_; }

 private:
  Instant now_;
};

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(NewContextIdV7Test, IsCanonicalLowercaseUuidV7) {
  const auto id = NewContextIdV7(kNow);
  ASSERT_TRUE(id);
  ASSERT_EQ(id->size(), 36u);
  for (std::size_t i = 0; i < id->size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ((*id)[i], '-') << i;
    } else {
      EXPECT_TRUE(IsLowerHex((*id)[i])) << i;
    }
  }
  EXPECT_EQ((*id)[14], '7');                                          // version
  EXPECT_NE(std::string("89ab").find((*id)[19]), std::string::npos);  // variant 0b10
  EXPECT_TRUE(ValidateContextId(*id));
}

TEST(NewContextIdV7Test, Leading48BitsAreUnixMilliseconds) {
  const auto id = NewContextIdV7(kNow);
  ASSERT_TRUE(id);
  const std::string hex = id->substr(0, 8) + id->substr(9, 4);
  EXPECT_EQ(std::stoll(hex, nullptr, 16), 1774746000123LL);
}

TEST(NewContextIdV7Test, RandomBitsDifferBetweenIdsOfTheSameMillisecond) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto id = NewContextIdV7(kNow);
    ASSERT_TRUE(id);
    EXPECT_TRUE(seen.insert(*id).second);
  }
}

TEST(NewContextIdV7Test, LaterMillisecondSortsAfter) {
  const auto a = NewContextIdV7(kNow);
  const auto b = NewContextIdV7(kNow + std::chrono::milliseconds(1));
  const auto c = NewContextIdV7(kNow + std::chrono::hours(24 * 365));
  ASSERT_TRUE(a && b && c);
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
}

TEST(NewContextIdV7Test, ClockOverloadReadsTheClock) {
  const FixedClock clock(FromUnixMicros(0x0123456789abLL * 1000));
  const auto id = NewContextIdV7(clock);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->substr(0, 13), "01234567-89ab");
}

TEST(NewContextIdV7Test, RangeLimits) {
  EXPECT_TRUE(NewContextIdV7(FromUnixMicros(0)));
  const std::int64_t max_ms = (std::int64_t{1} << 48) - 1;
  const auto last = NewContextIdV7(FromUnixMicros(max_ms * 1000 + 999));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->substr(0, 13), "ffffffff-ffff");

  const auto before_epoch = NewContextIdV7(FromUnixMicros(-1));
  ASSERT_FALSE(before_epoch);
  EXPECT_EQ(before_epoch.error().code, ErrorCode::kInvalidArgument);
  const auto beyond = NewContextIdV7(FromUnixMicros((max_ms + 1) * 1000));
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
}

TEST(ValidateContextIdTest, AcceptsTheWholeAlphabetAndLengthBounds) {
  EXPECT_TRUE(ValidateContextId("a"));
  EXPECT_TRUE(
      ValidateContextId("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:/-"));
  EXPECT_TRUE(ValidateContextId("tenant:recording/2026-03-29/cam_1.~v2"));
  EXPECT_TRUE(ValidateContextId(std::string(128, 'x')));
  EXPECT_TRUE(ValidateContextId("."));
  EXPECT_TRUE(ValidateContextId(".."));
}

TEST(ValidateContextIdTest, RejectsEmptyAndTooLong) {
  for (const std::string& bad : {std::string(), std::string(129, 'x'), std::string(4096, 'a')}) {
    const auto s = ValidateContextId(bad);
    ASSERT_FALSE(s) << bad.size();
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(ValidateContextIdTest, RejectsEveryCharacterOutsideTheAlphabet) {
  int rejected = 0;
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') ||
                         std::string("._~:/-").find(ch) != std::string::npos;
    const std::string id = std::string("ab") + ch + "cd";
    const auto s = ValidateContextId(id);
    EXPECT_EQ(static_cast<bool>(s), allowed) << "byte " << c;
    if (!s) {
      EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
      ++rejected;
    }
  }
  EXPECT_EQ(rejected, 256 - 68);
}

TEST(ValidateContextIdTest, DoesNotNormalise) {
  // Lookalikes a normaliser might fold into a valid id stay invalid.
  for (const std::string& bad :
       {std::string(" abc"), std::string("abc "), std::string("abc\n"), std::string("ab%2Fcd"),
        std::string("caf\xc3\xa9"), std::string("abc\0def", 7), std::string("\xef\xbc\xa1")}) {
    const auto s = ValidateContextId(bad);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(ValidateContextIdTest, ErrorMessageDoesNotEchoTheId) {
  const auto s = ValidateContextId("secret-looking value");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message.find("secret-looking"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::store
