#include "cli/client/key_cache.h"

#include <openssl/crypto.h>

namespace kmsd::client {

KeyCache::KeyCache(KeyCacheOptions options) : options_(std::move(options)) {}

KeyCache::~KeyCache() { Clear(); }

Instant KeyCache::Now() const {
  if (options_.clock) return options_.clock->Now();
  return SystemClock().Now();
}

void KeyCache::DropLocked(Lru::iterator it) {
  // Secret wipes itself when freed; wiping here first lets the test hook see
  // the wiped bytes before the memory goes back to the allocator.
  auto bytes = it->key.mutable_bytes();
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (options_.after_wipe) options_.after_wipe(it->key.expose());
  index_.erase(it->name);
  lru_.erase(it);
}

void KeyCache::DropExpiredLocked(Instant now) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    const auto next = std::next(it);
    if (it->expires_at <= now) DropLocked(it);
    it = next;
  }
}

std::optional<Secret> KeyCache::Get(std::string_view scope, std::string_view context_id) {
  const auto now = Now();
  std::lock_guard lock(mutex_);
  const auto found = index_.find(Name{std::string(scope), std::string(context_id)});
  if (found == index_.end()) return std::nullopt;
  const auto it = found->second;
  if (it->expires_at <= now) {
    DropLocked(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return Secret::CopyOf(it->key.expose());
}

void KeyCache::Put(std::string_view scope, std::string_view context_id, const Secret& key) {
  if (options_.max_entries == 0) return;
  const auto now = Now();
  std::lock_guard lock(mutex_);
  Name name{std::string(scope), std::string(context_id)};
  if (const auto found = index_.find(name); found != index_.end()) DropLocked(found->second);
  if (lru_.size() >= options_.max_entries) DropExpiredLocked(now);
  while (lru_.size() >= options_.max_entries) DropLocked(std::prev(lru_.end()));
  lru_.push_front(Entry{name, Secret::CopyOf(key.expose()), now + options_.ttl});
  index_.emplace(std::move(name), lru_.begin());
}

void KeyCache::Erase(std::string_view scope, std::string_view context_id) {
  std::lock_guard lock(mutex_);
  const auto found = index_.find(Name{std::string(scope), std::string(context_id)});
  if (found != index_.end()) DropLocked(found->second);
}

void KeyCache::Clear() {
  std::lock_guard lock(mutex_);
  while (!lru_.empty()) DropLocked(lru_.begin());
}

std::size_t KeyCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace kmsd::client
