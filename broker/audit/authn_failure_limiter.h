// Rate limit for authentication-failure audit events.
//
// A flood of bad bearer tokens must neither fill the audit disk nor starve
// the writer, yet must stay visible. Per fixed window, the first `burst`
// failures are audited one by one (authn_failure); the rest are only counted
// and reported as one authn_failure_summary event (reason "suppressed=N")
// when the window has ended: on the next Admit after it, or on Flush, which
// the daemon calls periodically and at shutdown.
//
// Pure bookkeeping, the caller passes the time; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "common/time.h"

namespace kmsd::audit {

class AuthnFailureLimiter {
 public:
  struct Options {
    std::uint32_t burst = 20;
    std::chrono::microseconds window = std::chrono::seconds(60);
  };
  struct Verdict {
    bool audit_this = false;      // append an authn_failure event for this failure
    std::uint64_t summarize = 0;  // > 0: first append a summary of this many suppressed
  };

  explicit AuthnFailureLimiter(Options options) : options_(options) {}

  Verdict Admit(Instant now);
  // The count suppressed in a window that has ended by `now` (0 if none or
  // the window is still open); resets it.
  std::uint64_t Flush(Instant now);

 private:
  std::uint64_t RollIfEnded(Instant now);  // requires mu_

  const Options options_;
  std::mutex mu_;
  Instant window_start_{};
  bool started_ = false;
  std::uint32_t admitted_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace kmsd::audit
