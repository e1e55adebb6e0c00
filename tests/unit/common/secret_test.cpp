#include "common/secret.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sstream>

namespace kmsd {
namespace {

Secret MakeKnownSecret() {
  return Secret::CopyOf(std::string_view("\x41\x42\x43\x44top-secret", 14));
}

TEST(SecretTest, FmtPrintsRedactionMarkerNotBytes) {
  const Secret secret = MakeKnownSecret();
  const std::string text = fmt::format("{}", secret);
  EXPECT_EQ(text, "[redacted 14 bytes]");
  EXPECT_EQ(text.find("top-secret"), std::string::npos);
}

TEST(SecretTest, OstreamAndGtestPrintRedactionMarker) {
  const Secret secret = MakeKnownSecret();
  std::ostringstream os;
  os << secret;
  EXPECT_EQ(os.str(), "[redacted 14 bytes]");
  EXPECT_EQ(::testing::PrintToString(secret), "[redacted 14 bytes]");
}

TEST(SecretTest, CopyOfKeepsBytesAndMoveEmptiesSource) {
  Secret secret = MakeKnownSecret();
  EXPECT_EQ(secret.expose_chars(), std::string_view("ABCDtop-secret"));
  Secret moved = std::move(secret);
  EXPECT_EQ(secret.size(), 0u);  // NOLINT(bugprone-use-after-move): asserting the moved-from state
  EXPECT_EQ(moved.size(), 14u);
}

TEST(SecretTest, TruncateShrinksVisibleBytes) {
  Secret secret = MakeKnownSecret();
  secret.truncate(4);
  EXPECT_EQ(secret.expose_chars(), "ABCD");
}

TEST(SecretTest, EqualsComparesContentAndLength) {
  const Secret secret = Secret::CopyOf(std::string_view("abc"));
  const std::uint8_t same[] = {'a', 'b', 'c'};
  const std::uint8_t other[] = {'a', 'b', 'd'};
  EXPECT_TRUE(secret.Equals(same));
  EXPECT_FALSE(secret.Equals(other));
  EXPECT_FALSE(secret.Equals(std::span(same, 2)));
}

}  // namespace
}  // namespace kmsd
