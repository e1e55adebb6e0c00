#include "broker/context_id_locks.h"

namespace kmsd::broker {

ContextIdLocks::Guard ContextIdLocks::Lock(std::string_view tenant, std::string_view context_id) {
  std::pair<std::string, std::string> key{std::string(tenant), std::string(context_id)};
  std::unique_lock lock(mu_);
  released_.wait(lock, [&] { return !held_.contains(key); });
  held_.insert(key);
  return Guard(this, std::move(key));
}

ContextIdLocks::Guard::~Guard() {
  if (locks_ == nullptr) return;
  {
    std::lock_guard lock(locks_->mu_);
    locks_->held_.erase(key_);
  }
  locks_->released_.notify_all();  // rare: only requests for a reused id wait
}

}  // namespace kmsd::broker
