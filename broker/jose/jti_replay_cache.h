// JtiReplayCache: remembers authorization-token ids so each is accepted once.
//
// The verifier calls RecordIfNew only after a token's signature and every
// claim verified, so a forged copy never burns the genuine token's jti.
// Implementations are thread-safe. An in-memory one lives here; a PostgreSQL
// one (shared by several daemons) comes with that store.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "common/time.h"

namespace kmsd::jose {

class JtiReplayCache {
 public:
  virtual ~JtiReplayCache() = default;

  // Records (tenant, jti) until `expires_at` and returns true when it was not
  // yet recorded (or its earlier record expired at or before `now`); returns
  // false for a replay. Fails (without recording) when the record cannot be
  // kept: the caller must then refuse the token, never accept it unrecorded.
  virtual Result<bool> RecordIfNew(std::string_view tenant, std::string_view jti,
                                   Instant expires_at, Instant now) = 0;

  // Gives back a jti recorded by RecordIfNew for a request that then released
  // nothing (its audit event could not be written): the client may retry with
  // the same token. Unknown ids are no error.
  virtual Status Forget(std::string_view tenant, std::string_view jti) = 0;
};

// Bounded in-memory cache. Expired entries are purged on every call; when
// `capacity` unexpired entries are held, new ones fail with kRateLimited
// (fail closed: evicting a live entry would let its token be replayed).
class InMemoryJtiReplayCache final : public JtiReplayCache {
 public:
  explicit InMemoryJtiReplayCache(std::size_t capacity = 100000) : capacity_(capacity) {}

  Result<bool> RecordIfNew(std::string_view tenant, std::string_view jti, Instant expires_at,
                           Instant now) override;
  Status Forget(std::string_view tenant, std::string_view jti) override;

  std::size_t size() const;

 private:
  using Key = std::pair<std::string, std::string>;  // (tenant, jti): no separator ambiguity
  void PurgeExpired(Instant now);

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::map<Key, Instant, std::less<>> entries_;
  std::set<std::pair<Instant, Key>> by_expiry_;
};

}  // namespace kmsd::jose
