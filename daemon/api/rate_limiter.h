// Per-tenant token buckets for the API (docs/api.md, "Rate limits").
//
// Each tenant's bucket holds at most `burst` tokens and refills at `rps` per
// second of the caller-supplied time; it starts full. A request takes one
// token; when none is left, Admit answers how long until one is. Buckets are
// created on first use and never removed (tenants are a configured, bounded
// set). Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.h"
#include "daemon/api/api_handler.h"

namespace kmsd::api {

class RateLimiter {
 public:
  RateLimiter(std::map<std::string, TenantRateLimit, std::less<>> limits,
              std::optional<TenantRateLimit> default_limit);

  // nullopt: admitted. Otherwise the whole seconds (>= 1, rounded up) until a
  // token is available, for Retry-After.
  std::optional<std::chrono::seconds> Admit(std::string_view tenant, Instant now);

 private:
  struct Bucket {
    double tokens = 0;
    Instant last{};
  };
  const std::map<std::string, TenantRateLimit, std::less<>> limits_;
  const std::optional<TenantRateLimit> default_limit_;
  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

}  // namespace kmsd::api
