// PolicyRegistry: each tenant's policy in force, loaded from the store.
//
// Policies are versioned by the store; the registry keeps the compiled form
// of the newest version per tenant so that evaluation costs no store read. A
// tenant without a stored policy is governed by the built-in default: allow
// (roles still gate every operation), reported as rule "default", version 0.
// A rejected document changes nothing: the previous policy stays in force.
//
// Thread-safe: readers get a shared_ptr to an immutable CompiledPolicy.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/store/record_store.h"
#include "policy/policy.h"

namespace kmsd::broker {

class PolicyRegistry {
 public:
  explicit PolicyRegistry(store::RecordStore& store);

  // The tenant's policy in force (loaded once, then cached).
  // Fails: kStoreUnavailable; kInternal when the stored document no longer
  // parses (it was validated when stored).
  Result<std::shared_ptr<const policy::CompiledPolicy>> Get(std::string_view tenant);

  // Called with the version a valid document is about to be stored as,
  // before anything is stored; an error stops the change (nothing stored).
  using BeforeStore = std::function<Status(std::uint64_t version)>;

  // Validates a new document, calls `before_store` (the broker audits the
  // change there, so that no policy is ever in force unaudited), stores it
  // and makes it the one in force. Puts are serialised, so the version
  // announced is the one stored. Fails with the PolicyError listing every
  // problem, with before_store's error, or with kStoreUnavailable; in each
  // case the previous document stays in force.
  boost::system::result<std::shared_ptr<const policy::CompiledPolicy>, policy::PolicyError> Put(
      std::string_view tenant, std::string_view document_json, Instant now,
      const BeforeStore& before_store);

  // Re-reads the newest stored document of every tenant loaded so far
  // (SIGHUP). A tenant whose stored document no longer parses keeps the
  // policy in force; the error names those tenants (kInternal) or the store
  // (kStoreUnavailable). Tenants not loaded yet load on their next Get.
  Status Reload();

 private:
  store::RecordStore& store_;
  std::mutex put_mutex_;  // held across one whole Put (version announced = stored)
  std::mutex mutex_;      // guards cache_
  std::map<std::string, std::shared_ptr<const policy::CompiledPolicy>, std::less<>> cache_;
};

}  // namespace kmsd::broker
