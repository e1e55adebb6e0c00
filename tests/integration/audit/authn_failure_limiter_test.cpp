#include "broker/audit/authn_failure_limiter.h"

#include <gtest/gtest.h>

namespace kmsd::audit {
namespace {

using std::chrono::seconds;

TEST(AuthnFailureLimiterTest, AuditsBurstThenSummarizesTheRestAfterTheWindow) {
  AuthnFailureLimiter limiter({.burst = 3, .window = seconds(10)});
  const Instant t0 = FromUnixMicros(1'780'000'000'000'000);
  int audited = 0;
  for (int i = 0; i < 100; ++i) {
    const auto v = limiter.Admit(t0 + seconds(1));
    EXPECT_EQ(v.summarize, 0u);
    audited += v.audit_this ? 1 : 0;
  }
  EXPECT_EQ(audited, 3);
  EXPECT_EQ(limiter.Flush(t0 + seconds(5)), 0u);  // window still open
  const auto next = limiter.Admit(t0 + seconds(12));
  EXPECT_EQ(next.summarize, 97u);
  EXPECT_TRUE(next.audit_this);
}

TEST(AuthnFailureLimiterTest, FlushReportsAnEndedWindowOnce) {
  AuthnFailureLimiter limiter({.burst = 1, .window = seconds(10)});
  const Instant t0 = FromUnixMicros(1'780'000'000'000'000);
  EXPECT_TRUE(limiter.Admit(t0).audit_this);
  EXPECT_FALSE(limiter.Admit(t0).audit_this);
  EXPECT_FALSE(limiter.Admit(t0).audit_this);
  EXPECT_EQ(limiter.Flush(t0 + seconds(10)), 2u);
  EXPECT_EQ(limiter.Flush(t0 + seconds(30)), 0u);
  const auto v = limiter.Admit(t0 + seconds(31));
  EXPECT_TRUE(v.audit_this);
  EXPECT_EQ(v.summarize, 0u);
}

}  // namespace
}  // namespace kmsd::audit
