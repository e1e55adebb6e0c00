#include "broker/kek_manager.h"

#include <algorithm>

namespace kmsd::broker {

KekManager::KekManager(KekManagerOptions options, const TenantRouter& router,
                       store::RecordStore& store, const Clock& clock)
    : options_(options), router_(router), store_(store), clock_(clock) {}

KekManager::TenantState& KekManager::StateOf(std::string_view tenant) {
  std::lock_guard lock(map_mutex_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    it = tenants_.emplace(std::string(tenant), std::make_unique<TenantState>()).first;
  }
  return *it->second;
}

Result<hsm::KeyService*> KekManager::KeyServiceFor(std::string_view tenant) const {
  return router_.Route(tenant);
}

Status KekManager::AddVersionLocked(std::string_view tenant, TenantState& state,
                                    hsm::KeyService& service, std::uint32_t version) {
  const hsm::KekId kek{std::string(tenant), version};
  // A KEK the token has but the store does not know was created by an attempt
  // that failed before the store write: no record can use it, so adopt it.
  if (auto created = service.CreateKek(kek);
      !created && created.error().code != ErrorCode::kConflict) {
    return created.error();
  }
  if (auto added = store_.AddKekVersion(tenant, version, clock_.Now()); !added) {
    return added.error();
  }
  state.current = version;
  state.reserved = 0;
  state.used = 0;
  return {};
}

Status KekManager::LoadLocked(std::string_view tenant, TenantState& state,
                              hsm::KeyService& service) {
  auto versions = store_.ListKekVersions(tenant);
  if (!versions) return versions.error();
  const auto current = std::find_if(versions->begin(), versions->end(), [](const auto& v) {
    return v.state == store::KekState::kCurrent;
  });
  if (current == versions->end()) {
    // Every routed tenant exists (by configuration, or in dev mode by its
    // identity token): its first KEK is created on first use.
    const std::uint32_t next = versions->empty() ? 1 : versions->back().version + 1;
    if (auto added = AddVersionLocked(tenant, state, service, next); !added) return added;
  } else {
    state.current = current->version;
    // Wraps done under the reservation before a restart are unknown: count the
    // whole reservation as used.
    state.reserved = current->wraps_reserved;
    state.used = current->wraps_reserved;
  }
  state.loaded = true;
  return {};
}

Result<KekManager::LockedTenant> KekManager::Lock(std::string_view tenant) {
  auto service = router_.Route(tenant);
  if (!service) return service.error();
  TenantState& state = StateOf(tenant);
  std::unique_lock lock(state.mutex);
  if (!state.loaded) {
    if (auto loaded = LoadLocked(tenant, state, **service); !loaded) return loaded.error();
  }
  return LockedTenant{**service, state, std::move(lock)};
}

Result<WrapTicket> KekManager::ReserveWrap(std::string_view tenant) {
  auto locked = Lock(tenant);
  if (!locked) return locked.error();
  auto& [service, state, lock] = *locked;
  if (state.used >= state.reserved) {
    if (state.reserved >= options_.rotate_after_wraps) {
      if (auto rotated = AddVersionLocked(tenant, state, service, state.current + 1); !rotated) {
        return rotated.error();
      }
    }
    const std::uint64_t block =
        std::min(options_.reservation_block, options_.rotate_after_wraps - state.reserved);
    auto total = store_.ReserveWraps(tenant, state.current, block);
    if (!total) {
      // Another writer may have changed the version (e.g. a concurrent
      // rotation through the store): reload next time.
      state.loaded = false;
      return total.error();
    }
    state.reserved = *total;
  }
  ++state.used;
  return WrapTicket{&service, hsm::KekId{std::string(tenant), state.current}};
}

Result<store::KekVersionInfo> KekManager::Rotate(std::string_view tenant) {
  auto locked = Lock(tenant);
  if (!locked) return locked.error();
  auto& [service, state, lock] = *locked;
  if (auto added = AddVersionLocked(tenant, state, service, state.current + 1); !added) {
    state.loaded = false;
    return added.error();
  }
  auto versions = store_.ListKekVersions(tenant);
  if (!versions || versions->empty()) {
    return versions ? MakeError(ErrorCode::kInternal, "rotated version not listed")
                    : versions.error();
  }
  return versions->back();
}

Result<std::vector<store::KekVersionInfo>> KekManager::List(std::string_view tenant) {
  if (auto service = router_.Route(tenant); !service) return service.error();
  return store_.ListKekVersions(tenant);
}

Result<std::uint64_t> KekManager::DestroyVersion(std::string_view tenant, std::uint32_t version,
                                                 bool force) {
  // A version the store never had is refused before Lock, which would create
  // a new tenant's first KEK: a refused request must change nothing.
  auto known = store_.ListKekVersions(tenant);
  if (!known) return known.error();
  if (std::none_of(known->begin(), known->end(),
                   [&](const auto& v) { return v.version == version; })) {
    return MakeError(ErrorCode::kNotFound, "store: unknown KEK version");
  }
  auto locked = Lock(tenant);
  if (!locked) return locked.error();
  auto& [service, state, lock] = *locked;
  if (version == state.current) {
    return MakeError(ErrorCode::kConflict,
                     "the current KEK version cannot be destroyed: rotate first");
  }
  auto in_use = store_.CountActiveByKekVersion(tenant, version);
  if (!in_use) return in_use.error();
  if (*in_use > 0 && !force) {
    return MakeError(ErrorCode::kConflict, "KEK version still protects active records");
  }
  std::uint64_t shredded = 0;
  auto destroyed = store_.DestroyAllByKekVersion(tenant, version, clock_.Now());
  if (destroyed) {
    shredded = *destroyed;
  } else if (destroyed.error().code != ErrorCode::kGone) {
    return destroyed.error();  // kGone: a previous attempt got this far; finish the token part
  }
  // The store forgets first so that nothing new is wrapped under the version;
  // then the token destroys the key, which makes every old copy unrecoverable.
  if (auto gone = service.DestroyKek({std::string(tenant), version});
      !gone && gone.error().code != ErrorCode::kNotFound) {
    return gone.error();
  }
  return shredded;
}

}  // namespace kmsd::broker
