#include "daemon/api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace kmsd::api {

RateLimiter::RateLimiter(std::map<std::string, TenantRateLimit, std::less<>> limits,
                         std::optional<TenantRateLimit> default_limit)
    : limits_(std::move(limits)), default_limit_(default_limit) {}

std::optional<std::chrono::seconds> RateLimiter::Admit(std::string_view tenant, Instant now) {
  const TenantRateLimit* limit = nullptr;
  if (auto it = limits_.find(tenant); it != limits_.end()) {
    limit = &it->second;
  } else if (default_limit_) {
    limit = &*default_limit_;
  }
  if (limit == nullptr || limit->rps <= 0) return std::nullopt;
  // A burst below one token would refuse everything; treat it as one.
  const double burst = std::max(1.0, limit->burst);

  std::lock_guard lock(mu_);
  auto it = buckets_.find(tenant);
  if (it == buckets_.end()) {
    it = buckets_.emplace(std::string(tenant), Bucket{burst, now}).first;
  }
  Bucket& bucket = it->second;
  if (now > bucket.last) {
    const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
    bucket.tokens = std::min(burst, bucket.tokens + elapsed * limit->rps);
    bucket.last = now;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return std::nullopt;
  }
  const double wait = (1.0 - bucket.tokens) / limit->rps;
  return std::chrono::seconds(std::max<long long>(1, static_cast<long long>(std::ceil(wait))));
}

}  // namespace kmsd::api
