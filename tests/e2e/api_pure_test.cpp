// The pure parts of the API layer, no token: the one ErrorCode mapping, the
// path decoding of context ids, the rate limiter's arithmetic.
#include <gtest/gtest.h>

#include "daemon/api/api_handler.h"
#include "daemon/api/handler_impl.h"
#include "daemon/api/rate_limiter.h"

namespace kmsd::api {
namespace {

TEST(ErrorToHttpTest, EveryCodeMapsAsTheContractSays) {
  const struct {
    ErrorCode code;
    unsigned status;
    std::string_view name;
  } table[] = {
      {ErrorCode::kInvalidArgument, 400, "invalid_request"},
      {ErrorCode::kUnauthenticated, 401, "unauthenticated"},
      {ErrorCode::kPermissionDenied, 403, "forbidden"},
      {ErrorCode::kInvalidAuthorizationToken, 403, "invalid_authorization_token"},
      {ErrorCode::kPolicyDenied, 403, "policy_denied"},
      {ErrorCode::kNotFound, 404, "not_found"},
      {ErrorCode::kConflict, 409, "conflict"},
      {ErrorCode::kGone, 410, "key_destroyed"},
      {ErrorCode::kPayloadTooLarge, 413, "payload_too_large"},
      {ErrorCode::kRateLimited, 429, "rate_limited"},
      {ErrorCode::kHsmUnavailable, 503, "hsm_unavailable"},
      {ErrorCode::kStoreUnavailable, 503, "store_unavailable"},
      {ErrorCode::kAuditUnavailable, 503, "audit_unavailable"},
      {ErrorCode::kIntegrity, 500, "integrity_error"},
      {ErrorCode::kInternal, 500, "internal"},
  };
  for (const auto& row : table) {
    const auto mapped = ErrorToHttp(row.code);
    EXPECT_EQ(mapped.status, row.status) << row.name;
    EXPECT_EQ(mapped.code, row.name);
  }
}

TEST(ErrorReplyTest, InternalErrorsHideTheirMessageAndDenialsCarryTheRule) {
  auto internal = ErrorReply(MakeError(ErrorCode::kInternal, "sqlite said something"));
  EXPECT_EQ(internal.body.find("sqlite"), std::string::npos);
  Error denied = MakeError(ErrorCode::kPolicyDenied, "denied by policy");
  denied.rule = "q1-freeze";
  auto reply = ErrorReply(denied);
  EXPECT_EQ(reply.status, 403u);
  EXPECT_NE(reply.body.find(R"("rule":"q1-freeze")"), std::string::npos) << reply.body;
}

TEST(DecodeContextIdTest, DecodesEveryTripletOnceAndRefusesBrokenOnes) {
  EXPECT_EQ(DecodeContextId("a/b/c").value(), "a/b/c");
  EXPECT_EQ(DecodeContextId("a%2Fb%2fc").value(), "a/b/c");
  EXPECT_EQ(DecodeContextId("%252F").value(), "%2F");  // once, not twice
  for (std::string_view bad : {"%", "a%2", "%zz", "%2g", "ab%"}) {
    auto decoded = DecodeContextId(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(MatchRouteTest, OpsAndApiRoutesFollowTheOptions) {
  ApiOptions ops_only;
  ops_only.serve_api = false;
  EXPECT_FALSE(MatchRoute("/v1/datakeys", ops_only));
  EXPECT_TRUE(MatchRoute("/metrics", ops_only));
  ApiOptions api_only;
  api_only.serve_ops = false;
  EXPECT_FALSE(MatchRoute("/healthz", api_only));
  auto record = MatchRoute("/v1/records/a/b", api_only);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->tail, "a/b");
  EXPECT_EQ(record->name, "/v1/records/{context_id}");
  EXPECT_FALSE(MatchRoute("/v1/records/", api_only));
  EXPECT_FALSE(MatchRoute("/v1/datakeys/", api_only));  // no trailing-slash aliasing
}

TEST(RateLimiterTest, BucketRefillsAtRpsAndRetryAfterRoundsUp) {
  RateLimiter limiter({{"t", {.rps = 0.5, .burst = 1}}}, std::nullopt);
  const Instant t0 = FromUnixMicros(1'700'000'000'000'000);
  EXPECT_FALSE(limiter.Admit("t", t0));
  auto wait = limiter.Admit("t", t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(wait->count(), 2);  // one token every 2 s
  auto later = limiter.Admit("t", t0 + std::chrono::milliseconds(1500));
  ASSERT_TRUE(later);
  EXPECT_EQ(later->count(), 1);  // 0.5 s left, rounded up
  EXPECT_FALSE(limiter.Admit("t", t0 + std::chrono::seconds(2)));
  // Unlisted tenants are unlimited without a default.
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Admit("other", t0));
}

TEST(RateLimiterTest, DefaultLimitAppliesToUnlistedTenantsSeparately) {
  RateLimiter limiter({}, TenantRateLimit{.rps = 1, .burst = 1});
  const Instant t0 = FromUnixMicros(1'700'000'000'000'000);
  EXPECT_FALSE(limiter.Admit("a", t0));
  EXPECT_TRUE(limiter.Admit("a", t0));
  EXPECT_FALSE(limiter.Admit("b", t0));  // b has its own bucket
}

}  // namespace
}  // namespace kmsd::api
