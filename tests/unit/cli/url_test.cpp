#include "cli/client/url.h"

#include <gtest/gtest.h>

namespace kmsd::client {
namespace {

TEST(UrlTest, ParsesHttpWithPortAndDefaults) {
  auto url = ParseBaseUrl("http://127.0.0.1:8200");
  ASSERT_TRUE(url);
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8200");
  EXPECT_EQ(url->prefix, "");
  EXPECT_EQ(url->text, "http://127.0.0.1:8200");
  EXPECT_EQ(ParseBaseUrl("http://kms.example")->port, "80");
  EXPECT_EQ(ParseBaseUrl("https://kms.example")->port, "443");
  EXPECT_TRUE(ParseBaseUrl("https://kms.example")->tls);
}

TEST(UrlTest, ParsesIpv6AndPrefixWithoutTrailingSlash) {
  auto url = ParseBaseUrl("https://[::1]:8443/kms/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "8443");
  EXPECT_EQ(url->prefix, "/kms");
  EXPECT_EQ(url->text, "https://[::1]:8443/kms");
}

TEST(UrlTest, RefusesWhatIsNotABaseUrl) {
  for (const char* bad :
       {"", "ftp://x", "127.0.0.1:8200", "http://", "http://:80", "http://h:0", "http://h:65536",
        "http://h:8x", "http://u:p@h", "http://h/?q=1", "http://h/#f", "http://[::1"}) {
    auto url = ParseBaseUrl(bad);
    ASSERT_FALSE(url) << bad;
    EXPECT_EQ(url.error().kind, ClientError::Kind::kInvalidArgument) << bad;
  }
}

TEST(UrlTest, EscapesPathSegments) {
  EXPECT_EQ(EscapePathSegment("0190b2f4-abcd"), "0190b2f4-abcd");
  EXPECT_EQ(EscapePathSegment("a/b c?"), "a%2Fb%20c%3F");
  EXPECT_EQ(EscapePathSegment(".."), "%2E%2E");
  EXPECT_EQ(EscapePathSegment("a..b"), "a..b");
}

}  // namespace
}  // namespace kmsd::client
