#include "cli/kmsctl/authz_claims.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace kmsd::kmsctl {
namespace {

std::string Jws(std::string_view payload_json) {
  return Base64UrlEncode(std::string_view(R"({"alg":"ES256"})")) + "." +
         Base64UrlEncode(payload_json) + ".c2ln";
}

TEST(UnverifiedContextClaimTest, ReadsTheCtxClaim) {
  EXPECT_EQ(UnverifiedContextClaim(Jws(R"({"ctx":"mtg-1/rec","tenant":"acme"})")), "mtg-1/rec");
}

TEST(UnverifiedContextClaimTest, AnythingElseIsNoClaim) {
  EXPECT_FALSE(UnverifiedContextClaim(""));
  EXPECT_FALSE(UnverifiedContextClaim("a.b"));
  EXPECT_FALSE(UnverifiedContextClaim(Jws(R"({"ctx":"x"})") + ".extra"));
  EXPECT_FALSE(UnverifiedContextClaim("a.!!!.c"));  // not base64url
  EXPECT_FALSE(UnverifiedContextClaim(Jws("not json")));
  EXPECT_FALSE(UnverifiedContextClaim(Jws(R"(["ctx"])")));            // not an object
  EXPECT_FALSE(UnverifiedContextClaim(Jws(R"({"tenant":"acme"})")));  // no ctx
  EXPECT_FALSE(UnverifiedContextClaim(Jws(R"({"ctx":7})")));          // not a string
}

}  // namespace
}  // namespace kmsd::kmsctl
