#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kmsd {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4648 §10 test vectors.
struct Vector {
  std::string_view plain;
  std::string_view standard;
  std::string_view url;
};
constexpr Vector kRfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64Test, EncodesRfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(Base64Encode(Bytes(v.plain)), v.standard);
    EXPECT_EQ(Base64UrlEncode(Bytes(v.plain)), v.url);
    EXPECT_EQ(Base64UrlEncode(v.plain), v.url);
  }
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    auto standard = Base64Decode(v.standard);
    ASSERT_TRUE(standard) << v.standard;
    EXPECT_EQ(*standard, Bytes(v.plain));
    auto url = Base64UrlDecode(v.url);
    ASSERT_TRUE(url) << v.url;
    EXPECT_EQ(*url, Bytes(v.plain));
  }
}

TEST(Base64Test, AlphabetsDifferInTheLastTwoCharacters) {
  const std::vector<std::uint8_t> bytes = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(*Base64Decode("+/+/"), bytes);
  EXPECT_EQ(*Base64UrlDecode("-_-_"), bytes);
  EXPECT_FALSE(Base64Decode("-_-_"));
  EXPECT_FALSE(Base64UrlDecode("+/+/"));
}

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<std::uint8_t>(i * 37 + 11));
    EXPECT_EQ(*Base64Decode(Base64Encode(bytes)), bytes);
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
  }
}

TEST(Base64Test, StandardRefusesNonCanonicalForms) {
  for (const std::string_view bad : std::initializer_list<std::string_view>{
           "Zg",                          // missing padding
           "Zg=",                         // short padding
           "Zg===",                       // too much padding
           "Zm8",                         // missing padding
           "Zh==",                        // non-zero trailing bits (h = 33 -> low 4 bits set)
           "Zm9=",                        // non-zero trailing bits (9 = 61 -> low 2 bits set)
           "Zm 9v",                       // whitespace inside
           "Zm9v\n",                      // trailing newline
           " Zm9v",                       // leading space
           "Zm9v\r\n",                    // CRLF
           "Z===",                        // one data char cannot encode a byte
           "====",                        // padding only
           "Zm=v",                        // padding in the middle
           "Zg==Zg==",                    // padding then data
           "Zm9*",                        // invalid char
           "Zm9-",                        // url alphabet
           "Zm9_",                        // url alphabet
           "Zm9v\x80",                    // non-ASCII
           std::string_view("Zm\0v", 4),  // NUL
       }) {
    const auto decoded = Base64Decode(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(Base64Test, UrlRefusesNonCanonicalForms) {
  for (const std::string_view bad : std::initializer_list<std::string_view>{
           "Zg==",      // padding refused
           "Zm8=",      // padding refused
           "Zg=",       // padding refused
           "Z",         // one char cannot encode a byte
           "Zm9vY",     // likewise after a full group
           "Zh",        // non-zero trailing bits
           "Zm9",       // non-zero trailing bits
           "Zm9+",      // standard alphabet
           "Zm9/",      // standard alphabet
           "Zm 9v",     // whitespace
           "Zm9v\n",    // trailing newline
           "Zm9.",      // segment separator is not base64
           "Zm9v\xff",  // non-ASCII
       }) {
    const auto decoded = Base64UrlDecode(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(Base64Test, SecretVariantsDecodeTheSameBytesAndRefuseTheSameForms) {
  auto standard = Base64DecodeSecret("Zm9vYmE=");
  ASSERT_TRUE(standard);
  EXPECT_TRUE(standard->Equals(Bytes("fooba")));
  auto url = Base64UrlDecodeSecret("Zm9vYmE");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->Equals(Bytes("fooba")));
  auto empty = Base64DecodeSecret("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(Base64DecodeSecret("Zm9vYmE"));
  EXPECT_FALSE(Base64DecodeSecret("Zh=="));
  EXPECT_FALSE(Base64UrlDecodeSecret("Zm9vYmE="));
  EXPECT_FALSE(Base64UrlDecodeSecret("Zh"));
}

}  // namespace
}  // namespace kmsd
