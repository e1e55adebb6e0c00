// StoreJtiReplayCache: authorization-token ids spent, kept in the record
// store (durable, shared by every daemon on the same store) instead of in
// memory, so that a token used before a restart or on another daemon is
// still refused as a replay.
#pragma once

#include "broker/jose/jti_replay_cache.h"
#include "broker/store/record_store.h"

namespace kmsd::broker {

class StoreJtiReplayCache final : public jose::JtiReplayCache {
 public:
  explicit StoreJtiReplayCache(store::RecordStore& store) : store_(store) {}

  Result<bool> RecordIfNew(std::string_view tenant, std::string_view jti, Instant expires_at,
                           Instant now) override {
    return store_.RecordJtiIfNew(tenant, jti, expires_at, now);
  }
  Status Forget(std::string_view tenant, std::string_view jti) override {
    return store_.ForgetJti(tenant, jti);
  }

 private:
  store::RecordStore& store_;
};

}  // namespace kmsd::broker
