#include "broker/jose/jti_replay_cache.h"

namespace kmsd::jose {

void InMemoryJtiReplayCache::PurgeExpired(Instant now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    entries_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

Result<bool> InMemoryJtiReplayCache::RecordIfNew(std::string_view tenant, std::string_view jti,
                                                 Instant expires_at, Instant now) {
  std::lock_guard lock(mutex_);
  PurgeExpired(now);
  Key key{std::string(tenant), std::string(jti)};
  if (entries_.contains(key)) return false;
  if (expires_at <= now) return true;  // nothing left to protect: it can no longer verify
  if (entries_.size() >= capacity_) {
    return MakeError(ErrorCode::kRateLimited, "jti replay cache full");
  }
  entries_.emplace(key, expires_at);
  by_expiry_.emplace(expires_at, std::move(key));
  return true;
}

Status InMemoryJtiReplayCache::Forget(std::string_view tenant, std::string_view jti) {
  std::lock_guard lock(mutex_);
  const Key key{std::string(tenant), std::string(jti)};
  if (const auto it = entries_.find(key); it != entries_.end()) {
    by_expiry_.erase({it->second, key});
    entries_.erase(it);
  }
  return {};
}

std::size_t InMemoryJtiReplayCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace kmsd::jose
