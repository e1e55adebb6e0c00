#include "broker/audit/authn_failure_limiter.h"

namespace kmsd::audit {

std::uint64_t AuthnFailureLimiter::RollIfEnded(Instant now) {
  if (started_ && now < window_start_ + options_.window) return 0;
  const std::uint64_t ended = suppressed_;
  started_ = true;
  window_start_ = now;
  admitted_ = 0;
  suppressed_ = 0;
  return ended;
}

AuthnFailureLimiter::Verdict AuthnFailureLimiter::Admit(Instant now) {
  std::lock_guard l(mu_);
  Verdict v;
  v.summarize = RollIfEnded(now);
  if (admitted_ < options_.burst) {
    ++admitted_;
    v.audit_this = true;
  } else {
    ++suppressed_;
  }
  return v;
}

std::uint64_t AuthnFailureLimiter::Flush(Instant now) {
  std::lock_guard l(mu_);
  if (!started_ || now < window_start_ + options_.window) return 0;
  const std::uint64_t ended = suppressed_;
  suppressed_ = 0;
  admitted_ = 0;
  started_ = false;  // the next failure opens a new window
  return ended;
}

}  // namespace kmsd::audit
