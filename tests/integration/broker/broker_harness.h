// BrokerHarness: a Broker over real parts — a fresh SoftHSM2 token, a SQLite
// store and an audit log in a temp dir, and authorization tokens signed with
// a real ES256 key registered as the tenant's data-holder signer.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "broker/audit/audit_log.h"
#include "broker/audit/key_service_signer.h"
#include "broker/audit_adapters.h"
#include "broker/broker.h"
#include "broker/jose/signer.h"
#include "broker/store/sqlite_record_store.h"
#include "hsm/pkcs11_key_service.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {

inline constexpr const char* kBrokerId = "kmsd-test";

// A clock the test moves by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start) : now_(start) {}
  Instant Now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void Advance(std::chrono::microseconds by) {
    std::lock_guard lock(mutex_);
    now_ += by;
  }

 private:
  mutable std::mutex mutex_;
  Instant now_;
};

struct HarnessOptions {
  std::uint64_t rotate_after_wraps = std::uint64_t{1} << 30;
  std::uint64_t reservation_block = 4096;
  // Tenants served by a second token of their own (the others use the first).
  std::vector<std::string> second_token_tenants;
  // Non-empty: production routing, only these tenants (on the first token);
  // empty: dev routing, every tenant provisioned on first use.
  std::vector<std::string> configured_tenants;
};

class BrokerHarness {
 public:
  // Fills `error` and returns nullptr when a part cannot be set up.
  static std::unique_ptr<BrokerHarness> Create(const TempDir& dir, SoftHsmToken& token,
                                               SoftHsmToken* second_token,
                                               const HarnessOptions& options, std::string* error);

  broker::Broker& broker() { return *broker_; }
  store::SqliteRecordStore& store() { return *store_; }
  audit::AuditLog& audit_log() { return *audit_log_; }
  hsm::KeyService& keys() { return *keys_; }
  hsm::KeyService* second_keys() { return second_keys_.get(); }
  ManualClock& clock() { return clock_; }
  const std::filesystem::path& db_path() const { return db_path_; }

  // A valid authorization token of `tenant`'s data holder for `context_id`.
  std::string Authz(const std::string& tenant, const std::string& context_id,
                    std::chrono::seconds ttl = std::chrono::seconds(300),
                    const std::string& subject = "");
  // Same, with every claim given by the test.
  std::string SignClaims(const std::string& tenant, const boost::json::object& claims);

  static broker::Caller CallerOf(std::string tenant, policy::RoleSet roles,
                                 std::string principal = "alice");

 private:
  BrokerHarness();

  ManualClock clock_;
  std::filesystem::path db_path_;
  std::shared_ptr<hsm::Pkcs11KeyService> keys_;
  std::shared_ptr<hsm::Pkcs11KeyService> second_keys_;
  std::unique_ptr<broker::TenantRouter> router_;
  std::unique_ptr<store::SqliteRecordStore> store_;
  std::shared_ptr<audit::KeyServiceCheckpointSigner> checkpoint_signer_;
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::unique_ptr<broker::AuditLogSink> audit_sink_;
  std::unique_ptr<jose::AuthorizationTokenVerifier> verifier_;
  std::map<std::string, jose::JwsSigner> signers_;  // per tenant, minted on demand
  std::mutex signers_mutex_;
  std::unique_ptr<broker::Broker> broker_;
};

}  // namespace kmsd::testing
