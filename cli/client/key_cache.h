// KeyCache: an optional local cache of plaintext data keys, for a client that
// decrypts the same asset again and again (the seed's "caching the plaintext
// key on a local device").
//
// In memory only (Secrets: wiped when dropped, locked against swap where the
// process may). Bounded: at most max_entries keys; inserting into a full cache
// evicts the least recently used entry. Each entry lives ttl from its
// insertion, whatever its use; an expired entry is never returned and is
// dropped (and so wiped) when found or when the cache is full. Clear() and
// the destructor wipe everything, so a cache owned by main() or a static is
// wiped at exit.
//
// Keys are (scope, context id): the scope names the daemon and the caller
// (Client uses its URL and a hash of its bearer token), so that two tenants
// never see each other's keys through one cache.
//
// A hit skips the daemon, and so skips its authorization-token check and its
// audit event: a cache trades those for latency. It is off unless the caller
// builds one.
//
// Thread-safe: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/secret.h"
#include "common/time.h"

namespace kmsd::client {

struct KeyCacheOptions {
  std::size_t max_entries = 256;  // 0 disables the cache (Put drops the key)
  std::chrono::microseconds ttl = std::chrono::minutes(5);
  std::shared_ptr<const Clock> clock;  // null = SystemClock
  // Test hook: called with an entry's bytes right after they were wiped and
  // before they are freed, under the cache's lock. Must not call the cache.
  std::function<void(std::span<const std::uint8_t> wiped)> after_wipe;
};

class KeyCache {
 public:
  explicit KeyCache(KeyCacheOptions options = {});
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;

  // A copy of the cached key (the caller owns and wipes the copy), or nullopt
  // when absent or expired. A hit counts as a use for LRU.
  std::optional<Secret> Get(std::string_view scope, std::string_view context_id);
  // Stores a copy of key; replaces (and wipes) an entry with the same name.
  void Put(std::string_view scope, std::string_view context_id, const Secret& key);
  // Drops (and wipes) one entry, e.g. after the record was destroyed.
  void Erase(std::string_view scope, std::string_view context_id);
  // Drops (and wipes) every entry.
  void Clear();
  std::size_t size() const;

 private:
  using Name = std::pair<std::string, std::string>;
  struct Entry {
    Name name;
    Secret key;
    Instant expires_at;
  };
  using Lru = std::list<Entry>;  // front = most recently used

  Instant Now() const;
  void DropLocked(Lru::iterator it);
  void DropExpiredLocked(Instant now);

  const KeyCacheOptions options_;
  mutable std::mutex mutex_;  // guards lru_ and index_
  Lru lru_;
  std::map<Name, Lru::iterator, std::less<>> index_;
};

}  // namespace kmsd::client
