// KekManager: each tenant's KEK versions, as the store and the token see them.
//
// The store's kek_versions table is the source of truth for which version is
// current; the token holds the keys. KekManager keeps, per tenant, the current
// version and a block of wraps reserved durably in the store, so that the
// AES-GCM invocation count of every KEK version survives crashes (a crash
// over-counts, never under-counts) without a store write per data key.
// When a version's reservation would pass `rotate_after_wraps`, a new version
// is created and made current before the next wrap: the random-IV bound of
// AES-GCM (2^32 invocations per key, NIST SP 800-38D §8.3) is never near.
//
// Thread-safe. Operations on one tenant are serialised by a per-tenant mutex;
// tenants do not wait for each other.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store/record_store.h"
#include "broker/tenant_router.h"
#include "common/time.h"

namespace kmsd::broker {

struct KekManagerOptions {
  std::uint64_t rotate_after_wraps = std::uint64_t{1} << 30;
  std::uint64_t reservation_block = 4096;
};

// The version a wrap may use now (its reservation already covers the wrap).
struct WrapTicket {
  hsm::KeyService* key_service = nullptr;
  hsm::KekId kek;
};

class KekManager {
 public:
  KekManager(KekManagerOptions options, const TenantRouter& router, store::RecordStore& store,
             const Clock& clock);

  // Reserves one wrap under the tenant's current version, provisioning the
  // tenant's first KEK when the router allows it and rotating first when the
  // reservation would pass the threshold. Fails: kPermissionDenied (unknown
  // tenant), kNotFound (tenant has no KEK and is not provisioned on first
  // use), kHsmUnavailable, kStoreUnavailable.
  Result<WrapTicket> ReserveWrap(std::string_view tenant);

  // Creates version current+1 in the token and makes it current in the store.
  Result<store::KekVersionInfo> Rotate(std::string_view tenant);

  Result<std::vector<store::KekVersionInfo>> List(std::string_view tenant);

  // The KeyService of the tenant (routing only).
  Result<hsm::KeyService*> KeyServiceFor(std::string_view tenant) const;

  // Destroys a KEK version: refuses (kConflict) while active records use it
  // unless `force`, then shreds those records in the store and destroys the
  // key in the token. Returns the number of records shredded.
  Result<std::uint64_t> DestroyVersion(std::string_view tenant, std::uint32_t version, bool force);

 private:
  struct TenantState {
    std::mutex mutex;
    bool loaded = false;
    std::uint32_t current = 0;
    std::uint64_t reserved = 0;  // durable reservation of `current`
    std::uint64_t used = 0;      // wraps handed out under `current` since load
  };

  // A tenant's key service and state, loaded, with its mutex held.
  struct LockedTenant {
    hsm::KeyService& service;
    TenantState& state;
    std::unique_lock<std::mutex> lock;
  };
  Result<LockedTenant> Lock(std::string_view tenant);
  TenantState& StateOf(std::string_view tenant);
  // Both with state.mutex held.
  Status LoadLocked(std::string_view tenant, TenantState& state, hsm::KeyService& service);
  Status AddVersionLocked(std::string_view tenant, TenantState& state, hsm::KeyService& service,
                          std::uint32_t version);

  const KekManagerOptions options_;
  const TenantRouter& router_;
  store::RecordStore& store_;
  const Clock& clock_;
  std::mutex map_mutex_;  // guards tenants_ (not the states)
  std::map<std::string, std::unique_ptr<TenantState>, std::less<>> tenants_;
};

}  // namespace kmsd::broker
