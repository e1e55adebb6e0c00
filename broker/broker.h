// Broker: the key flows of kmsd — generate, decrypt, record lookup and
// destruction, KEK rotation, rewrap and destruction, and tenant policies.
//
// The broker keeps only wrapped keys (RecordStore), asks the tenant's policy
// before any key is used (PolicyRegistry), has the tenant's token wrap and
// unwrap (KekManager -> hsm::KeyService), checks the data holder's
// authorization token on every decrypt, and writes a durable audit event
// before any key leaves: a key is returned only after both its record and its
// audit event are durable. Every refusal after authentication is audited too.
//
// The caller's identity (tenant, principal, roles) comes in as a value that
// the daemon took from a verified bearer token; the tenant is never taken
// from a request body. Errors use kmsd::ErrorCode; messages are built from
// codes and ids only. Thread-safe: every method may run on any worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/audit/audit_event.h"
#include "broker/context_id_locks.h"
#include "broker/jose/authorization_verifier.h"
#include "broker/kek_manager.h"
#include "broker/policy_registry.h"
#include "broker/store/record_store.h"
#include "common/secret.h"
#include "common/time.h"
#include "policy/policy.h"

namespace kmsd::broker {

// Where audit events go. Append returns only when the event is durable;
// kAuditUnavailable otherwise (the broker then fails closed).
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual Result<std::uint64_t> Append(audit::AuditEvent event) = 0;
};

struct Caller {
  std::string tenant;
  std::string principal;
  policy::RoleSet roles = 0;
  std::string request_id;
};

struct GenerateRequest {
  std::string asset_type;
  std::string asset_id;
  std::optional<std::string> context_id;  // else the broker generates a UUIDv7
};

struct GenerateReply {
  std::string context_id;
  Secret plaintext_key;
  std::uint32_t key_version = 0;
  Instant created_at{};
};

struct DecryptRequest {
  std::string context_id;
  std::string authorization_token;
};

struct DecryptReply {
  std::string context_id;
  Secret plaintext_key;
  std::string asset_type;
  std::string asset_id;
  Instant created_at{};
};

// Record metadata, never key material.
struct RecordInfo {
  std::string context_id;
  std::string asset_type;
  std::string asset_id;
  Instant created_at{};
  std::uint32_t key_version = 0;
  store::RecordState state = store::RecordState::kActive;
  std::optional<Instant> destroyed_at;
};

struct RewrapProgress {
  std::uint64_t rewrapped = 0;
  std::uint64_t remaining = 0;  // active records still under old versions
  std::string resume_after;     // last context id handled in this step
};

// A dry-run decision. The explanation's rule ids view `policy`, which this
// struct keeps alive.
struct PolicyEvaluation {
  std::shared_ptr<const policy::CompiledPolicy> policy;
  policy::Explanation explanation;
};

struct BrokerOptions {
  KekManagerOptions keys;
};

class Broker {
 public:
  Broker(BrokerOptions options, const TenantRouter& router, store::RecordStore& store,
         AuditSink& audit, jose::AuthorizationTokenVerifier& authorization, const Clock& clock);

  // Role encrypt. Policy check for `encrypt`, data key from the tenant's
  // current KEK, record stored durably, audit event durable, then the reply.
  // Fails: kPermissionDenied, kInvalidArgument (asset type/id, context id),
  // kPolicyDenied (Error::rule set), kConflict (context id used in the
  // tenant), kHsmUnavailable, kStoreUnavailable, kAuditUnavailable.
  Result<GenerateReply> Generate(const Caller& caller, const GenerateRequest& request);

  // Role decrypt. Authorization token verified for (tenant, caller, context
  // id), record found, destroyed -> kGone, policy check for `decrypt` with the
  // record's facts, unwrap (kIntegrity when the record was altered at rest),
  // audit event durable, then the reply. Another tenant's context id is
  // kNotFound. Fails also: kInvalidAuthorizationToken, kPolicyDenied.
  Result<DecryptReply> Decrypt(const Caller& caller, const DecryptRequest& request);

  // Any of the tenant's roles. kNotFound for unknown ids and other tenants'.
  Result<RecordInfo> GetRecord(const Caller& caller, std::string_view context_id);

  // Role admin. Crypto-shreds one record; later decrypts answer kGone.
  Status DestroyRecord(const Caller& caller, std::string_view context_id);

  // Role admin. KEK versions of the caller's tenant.
  Result<std::vector<store::KekVersionInfo>> ListKeks(const Caller& caller);
  Result<store::KekVersionInfo> RotateKek(const Caller& caller);
  // Role admin. See KekManager::DestroyVersion.
  Result<std::uint64_t> DestroyKekVersion(const Caller& caller, std::uint32_t version, bool force);
  // Role admin. Moves up to `batch` records of old versions to the current
  // one (unwrap + wrap in the token). Resumable: call again until remaining
  // is 0; a crash in between loses nothing (each record is a compare-and-set).
  Result<RewrapProgress> RewrapStep(const Caller& caller, std::size_t batch);

  // Role admin. Policy document in force, replace it (audited), dry run.
  Result<std::shared_ptr<const policy::CompiledPolicy>> GetPolicy(const Caller& caller);
  boost::system::result<std::shared_ptr<const policy::CompiledPolicy>, policy::PolicyError>
  PutPolicy(const Caller& caller, std::string_view document_json);
  Result<PolicyEvaluation> EvaluatePolicy(const Caller& caller, const policy::Facts& facts);

  PolicyRegistry& policies() { return policies_; }

  // OK when `tenant` may be served: configured, or any well-formed name in
  // dev mode (the router provisions on first use). kPermissionDenied
  // "unknown tenant" otherwise, kInvalidArgument for a malformed name. Every
  // flow checks it first, so an unconfigured tenant can neither read nor
  // write anything (policies, records, audit); the API checks it before
  // serving a tenant's audit events, which do not pass through the broker.
  Status AdmitTenant(std::string_view tenant) const;

 private:
  audit::AuditEvent EventFor(const Caller& caller, audit::Operation operation, Instant now) const;
  // Appends `event`; on failure the caller's flow fails closed with it.
  Status Audit(audit::AuditEvent event);
  // Admits the tenant, then the admin role of a change (record or KEK
  // destruction, rotation, rewrap, policy). A caller without it is refused
  // and audited, as the data flows' role refusals are: attempts on keys
  // belong in the trail.
  Status AdmitAdminChange(const Caller& caller, audit::Operation operation,
                          std::string_view context_id = {});
  // The second event of a change audited before it was made: its result
  // (`reason`), or "not done" with the error code. Best effort.
  void AuditOutcome(audit::AuditEvent event, const Status& outcome, std::string reason);

  const BrokerOptions options_;
  const TenantRouter& router_;
  store::RecordStore& store_;
  AuditSink& audit_;
  jose::AuthorizationTokenVerifier& authorization_;
  const Clock& clock_;
  KekManager keks_;
  PolicyRegistry policies_;
  ContextIdLocks context_id_locks_;
};

}  // namespace kmsd::broker
