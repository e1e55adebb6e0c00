#include "broker/broker.h"

#include <spdlog/spdlog.h>

#include "broker/binding.h"
#include "broker/store/context_id.h"

namespace kmsd::broker {
namespace {

bool HasRole(const Caller& caller, policy::RoleBits role) { return (caller.roles & role) != 0; }

Error Forbidden() {
  return MakeError(ErrorCode::kPermissionDenied, "role does not allow this operation");
}

std::vector<std::uint8_t> AadOf(const store::Record& record, std::uint32_t kek_version) {
  return EncodeBindingAad({record.tenant, record.context_id, record.asset_type, record.asset_id,
                           record.created_at, kek_version});
}

// The store says this KEK version is in use, so a token that cannot find it
// has lost its objects (storage moved, token replaced): the token is what is
// unavailable, retryably, not the record. The label stays in the log only.
Error KekMissingFromToken(std::string_view tenant, std::uint32_t version, const Error& error) {
  if (error.code != ErrorCode::kNotFound) return error;
  spdlog::error("KEK v{} of tenant {} is missing from its token", version, tenant);
  return MakeError(ErrorCode::kHsmUnavailable, "the token does not hold the key-encryption key");
}

// The 503 codes: nothing was half-written and no key left.
bool IsUnavailable(ErrorCode code) {
  return code == ErrorCode::kHsmUnavailable || code == ErrorCode::kStoreUnavailable ||
         code == ErrorCode::kAuditUnavailable;
}

Error PolicyDenied(const policy::Decision& decision) {
  Error error = MakeError(ErrorCode::kPolicyDenied, "denied by tenant policy");
  error.rule = std::string(decision.rule_id);
  return error;
}

}  // namespace

Broker::Broker(BrokerOptions options, const TenantRouter& router, store::RecordStore& store,
               AuditSink& audit, jose::AuthorizationTokenVerifier& authorization,
               const Clock& clock)
    : options_(options),
      router_(router),
      store_(store),
      audit_(audit),
      authorization_(authorization),
      clock_(clock),
      keks_(options.keys, router, store, clock),
      policies_(store) {}

audit::AuditEvent Broker::EventFor(const Caller& caller, audit::Operation operation,
                                   Instant now) const {
  audit::AuditEvent event;
  event.time = now;
  event.tenant = caller.tenant;
  event.principal = caller.principal;
  event.operation = operation;
  event.request_id = caller.request_id;
  return event;
}

Status Broker::Audit(audit::AuditEvent event) {
  auto appended = audit_.Append(std::move(event));
  if (!appended) {
    spdlog::error("audit event not durable ({}): failing closed",
                  ErrorCodeName(appended.error().code));
    return appended.error();
  }
  return {};
}

void Broker::AuditOutcome(audit::AuditEvent event, const Status& outcome, std::string reason) {
  if (!outcome) {
    event.decision = audit::Decision::kDeny;
    event.error = outcome.error().code;
    event.reason = "not done";
  } else {
    event.reason = std::move(reason);
  }
  (void)Audit(std::move(event));  // best effort: the change is audited already
}

Status Broker::AdmitTenant(std::string_view tenant) const {
  if (auto routed = router_.Route(tenant); !routed) return routed.error();
  return {};
}

Status Broker::AdmitAdminChange(const Caller& caller, audit::Operation operation,
                                std::string_view context_id) {
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  if (HasRole(caller, policy::kRoleAdmin)) return {};
  audit::AuditEvent event = EventFor(caller, operation, clock_.Now());
  event.context_id = std::string(context_id);
  event.decision = audit::Decision::kDeny;
  event.error = ErrorCode::kPermissionDenied;
  if (auto audited = Audit(std::move(event)); !audited) return audited.error();
  return Forbidden();
}

Result<GenerateReply> Broker::Generate(const Caller& caller, const GenerateRequest& request) {
  const Instant now = clock_.Now();
  audit::AuditEvent event = EventFor(caller, audit::Operation::kGenerate, now);
  event.asset_type = request.asset_type;
  event.asset_id = request.asset_id;
  // Refusals are audited; an event that cannot be written turns the refusal
  // into kAuditUnavailable (fail closed), never into silence.
  auto refuse = [&](Error error) -> Result<GenerateReply> {
    event.decision = audit::Decision::kDeny;
    event.error = error.code;
    if (auto audited = Audit(event); !audited) return audited.error();
    return error;
  };

  // An unconfigured tenant is refused before anything, the audit log included.
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  if (!HasRole(caller, policy::kRoleEncrypt)) return refuse(Forbidden());
  if (!policy::IsValidAssetType(request.asset_type)) {
    return MakeError(ErrorCode::kInvalidArgument, "asset_type must match [a-z0-9_.-]{1,64}");
  }
  if (!policy::IsValidAssetId(request.asset_id)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "asset_id must be 1-256 visible ASCII characters, no '*'");
  }
  std::string context_id;
  std::optional<ContextIdLocks::Guard> id_lock;
  if (request.context_id) {
    if (auto valid = store::ValidateContextId(*request.context_id); !valid) return valid.error();
    context_id = *request.context_id;
    // Held to the insert: a concurrent request for the same id waits for
    // this one's outcome instead of being audited as a second release.
    id_lock.emplace(context_id_locks_.Lock(caller.tenant, context_id));
    // A reused id is refused (and audited) before any key exists.
    if (auto existing = store_.Find(caller.tenant, context_id); existing) {
      event.context_id = context_id;
      return refuse(MakeError(ErrorCode::kConflict, "context id already used in this tenant"));
    } else if (existing.error().code != ErrorCode::kNotFound) {
      return existing.error();
    }
  } else {
    auto generated = store::NewContextIdV7(now);
    if (!generated) return generated.error();
    context_id = std::move(*generated);
  }
  event.context_id = context_id;

  auto policy = policies_.Get(caller.tenant);
  if (!policy) return policy.error();
  const policy::Decision decision =
      (*policy)->Evaluate({policy::Operation::kEncrypt, caller.principal, caller.roles,
                           request.asset_type, request.asset_id, now, now});
  event.rule = std::string(decision.rule_id);
  event.policy_version = decision.policy_version;
  if (!decision.allowed()) return refuse(PolicyDenied(decision));

  auto ticket = keks_.ReserveWrap(caller.tenant);
  if (!ticket) return ticket.error();
  store::Record record{
      caller.tenant,       context_id, request.asset_type,          request.asset_id, now,
      ticket->kek.version, {},         store::RecordState::kActive, std::nullopt};
  auto key = ticket->key_service->GenerateDataKey(ticket->kek, AadOf(record, ticket->kek.version));
  if (!key) return KekMissingFromToken(caller.tenant, ticket->kek.version, key.error());
  record.wrapped_key = std::move(key->wrapped);

  // Audited before the record is stored: an audit sink that cannot be
  // written leaves nothing behind (the client may retry with the same
  // context id), and a record exists only with its event. A store failure
  // after the event is audited as the request's outcome.
  event.decision = audit::Decision::kAllow;
  if (auto audited = Audit(event); !audited) return audited.error();
  if (auto stored = store_.Insert(record); !stored) {
    event.decision = audit::Decision::kDeny;
    event.error = stored.error().code;
    event.reason = "record not stored; no key released";
    (void)Audit(std::move(event));  // best effort: the caller gets the store's error
    return stored.error();
  }
  return GenerateReply{std::move(context_id), std::move(key->plaintext), ticket->kek.version, now};
}

Result<DecryptReply> Broker::Decrypt(const Caller& caller, const DecryptRequest& request) {
  const Instant now = clock_.Now();
  audit::AuditEvent event = EventFor(caller, audit::Operation::kDecrypt, now);
  event.context_id = request.context_id;
  auto refuse = [&](Error error) -> Result<DecryptReply> {
    event.decision = audit::Decision::kDeny;
    event.error = error.code;
    if (error.code == ErrorCode::kInvalidAuthorizationToken) event.reason = error.message;
    if (auto audited = Audit(event); !audited) return audited.error();
    return error;
  };

  // An unconfigured tenant is refused before anything, the audit log included.
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  if (!HasRole(caller, policy::kRoleDecrypt)) return refuse(Forbidden());
  if (auto valid = store::ValidateContextId(request.context_id); !valid) return valid.error();

  auto claims = authorization_.Verify(request.authorization_token,
                                      {caller.tenant, caller.principal, request.context_id}, now);
  if (!claims) return refuse(claims.error());

  // The jti is spent from here on. A 503 (token, store or audit log
  // unavailable) released nothing: the token is given back so that the 503
  // is retryable with it, as the contract says. Other refusals keep it spent.
  auto reply = [&]() -> Result<DecryptReply> {
    auto record = store_.Find(caller.tenant, request.context_id);
    if (!record) {
      if (record.error().code == ErrorCode::kNotFound) return refuse(record.error());
      return record.error();
    }
    event.asset_type = record->asset_type;
    event.asset_id = record->asset_id;
    if (record->state == store::RecordState::kDestroyed) {
      return refuse(MakeError(ErrorCode::kGone, "the key of this context was destroyed"));
    }

    auto policy = policies_.Get(caller.tenant);
    if (!policy) return policy.error();
    const policy::Decision decision =
        (*policy)->Evaluate({policy::Operation::kDecrypt, caller.principal, caller.roles,
                             record->asset_type, record->asset_id, record->created_at, now});
    event.rule = std::string(decision.rule_id);
    event.policy_version = decision.policy_version;
    if (!decision.allowed()) return refuse(PolicyDenied(decision));

    auto service = keks_.KeyServiceFor(caller.tenant);
    if (!service) return service.error();
    auto key = (*service)->Unwrap({caller.tenant, record->kek_version}, record->wrapped_key,
                                  AadOf(*record, record->kek_version));
    if (!key) {
      // The blob comes from our own store: one that does not parse, or names
      // another KEK version than its row, was altered at rest just like one
      // whose tag fails.
      if (key.error().code == ErrorCode::kIntegrity ||
          key.error().code == ErrorCode::kInvalidArgument) {
        spdlog::error("integrity failure: record of tenant {} context {} does not authenticate",
                      caller.tenant, request.context_id);
        return refuse(
            MakeError(ErrorCode::kIntegrity, "the stored record failed its integrity check"));
      }
      return KekMissingFromToken(caller.tenant, record->kek_version, key.error());
    }

    event.decision = audit::Decision::kAllow;
    if (auto audited = Audit(event); !audited) return audited.error();
    return DecryptReply{record->context_id, std::move(*key), record->asset_type, record->asset_id,
                        record->created_at};
  }();
  if (!reply && IsUnavailable(reply.error().code)) {
    if (auto released = authorization_.ReleaseJti(caller.tenant, claims->jti); !released) {
      // The 503 then cannot be retried with this token (403 replayed jti).
      spdlog::warn("authorization token of tenant {} could not be given back after a 503 ({})",
                   caller.tenant, ErrorCodeName(released.error().code));
    }
  }
  return reply;
}

Result<RecordInfo> Broker::GetRecord(const Caller& caller, std::string_view context_id) {
  if (caller.roles == 0) return Forbidden();
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  if (auto valid = store::ValidateContextId(context_id); !valid) return valid.error();
  auto record = store_.Find(caller.tenant, context_id);
  if (!record) return record.error();
  return RecordInfo{record->context_id,  record->asset_type,  record->asset_id,
                    record->created_at,  record->kek_version, record->state,
                    record->destroyed_at};
}

Status Broker::DestroyRecord(const Caller& caller, std::string_view context_id) {
  // The role is checked first; a refusal names the id only when it is one.
  const auto valid = store::ValidateContextId(context_id);
  if (auto admitted = AdmitAdminChange(caller, audit::Operation::kDestroyRecord,
                                       valid ? context_id : std::string_view());
      !admitted) {
    return admitted.error();
  }
  if (!valid) return valid.error();
  const Instant now = clock_.Now();
  auto record = store_.Find(caller.tenant, context_id);
  if (!record) return record.error();
  if (record->state == store::RecordState::kDestroyed) {
    return MakeError(ErrorCode::kGone, "the key of this context was destroyed");
  }
  // Audited before the change, so no record is ever shredded unaudited; a
  // store failure after it is audited as its outcome.
  audit::AuditEvent event = EventFor(caller, audit::Operation::kDestroyRecord, now);
  event.context_id = std::string(context_id);
  event.asset_type = record->asset_type;
  event.asset_id = record->asset_id;
  event.decision = audit::Decision::kAllow;
  if (auto audited = Audit(event); !audited) return audited.error();
  if (auto destroyed = store_.MarkDestroyed(caller.tenant, context_id, now); !destroyed) {
    event.decision = audit::Decision::kDeny;
    event.error = destroyed.error().code;
    event.reason = "record not destroyed";
    (void)Audit(std::move(event));  // best effort: the caller gets the store's error
    return destroyed.error();
  }
  return {};
}

Result<std::vector<store::KekVersionInfo>> Broker::ListKeks(const Caller& caller) {
  if (!HasRole(caller, policy::kRoleAdmin)) return Forbidden();
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  return keks_.List(caller.tenant);
}

Result<store::KekVersionInfo> Broker::RotateKek(const Caller& caller) {
  if (auto admitted = AdmitAdminChange(caller, audit::Operation::kRotateKek); !admitted) {
    return admitted.error();
  }
  // Audited before the change (no KEK appears unaudited), the new version
  // in a second event once it exists.
  audit::AuditEvent event = EventFor(caller, audit::Operation::kRotateKek, clock_.Now());
  event.decision = audit::Decision::kAllow;
  event.reason = "rotation requested";
  if (auto audited = Audit(event); !audited) return audited.error();
  auto rotated = keks_.Rotate(caller.tenant);
  AuditOutcome(event, rotated ? Status{} : Status{rotated.error()},
               rotated ? "new current version " + std::to_string(rotated->version) : "");
  return rotated;
}

Result<std::uint64_t> Broker::DestroyKekVersion(const Caller& caller, std::uint32_t version,
                                                bool force) {
  if (auto admitted = AdmitAdminChange(caller, audit::Operation::kDestroyKek); !admitted) {
    return admitted.error();
  }
  // Audited before anything is shredded; the count in a second event.
  audit::AuditEvent event = EventFor(caller, audit::Operation::kDestroyKek, clock_.Now());
  event.decision = audit::Decision::kAllow;
  event.reason = "version " + std::to_string(version) + (force ? " (forced)" : "") + " requested";
  if (auto audited = Audit(event); !audited) return audited.error();
  auto shredded = keks_.DestroyVersion(caller.tenant, version, force);
  AuditOutcome(event, shredded ? Status{} : Status{shredded.error()},
               shredded ? "version " + std::to_string(version) + ", records shredded " +
                              std::to_string(*shredded)
                        : "");
  return shredded;
}

Result<RewrapProgress> Broker::RewrapStep(const Caller& caller, std::size_t batch) {
  if (auto admitted = AdmitAdminChange(caller, audit::Operation::kRewrap); !admitted) {
    return admitted.error();
  }
  auto versions = keks_.List(caller.tenant);
  if (!versions) return versions.error();
  auto service = keks_.KeyServiceFor(caller.tenant);
  if (!service) return service.error();

  // Audited before any record moves (when any is left to move).
  std::uint64_t pending = 0;
  for (const auto& version : *versions) {
    if (version.state != store::KekState::kActive) continue;
    auto left = store_.CountActiveByKekVersion(caller.tenant, version.version);
    if (!left) return left.error();
    pending += *left;
  }
  audit::AuditEvent intent = EventFor(caller, audit::Operation::kRewrap, clock_.Now());
  intent.decision = audit::Decision::kAllow;
  intent.reason = "rewrap of up to " + std::to_string(std::min<std::uint64_t>(pending, batch)) +
                  " records requested";
  if (pending > 0) {
    if (auto audited = Audit(intent); !audited) return audited.error();
  }

  RewrapProgress progress;
  for (const auto& version : *versions) {
    if (version.state != store::KekState::kActive) continue;  // current, retired, destroyed: skip
    auto records = store_.ListByKekVersion(caller.tenant, version.version, "", batch);
    if (!records) return records.error();
    for (const store::Record& record : *records) {
      if (progress.rewrapped >= batch) break;
      auto ticket = keks_.ReserveWrap(caller.tenant);
      if (!ticket) return ticket.error();
      auto rewrapped = (*service)->Rewrap({caller.tenant, record.kek_version}, record.wrapped_key,
                                          AadOf(record, record.kek_version), ticket->kek,
                                          AadOf(record, ticket->kek.version));
      if (!rewrapped) {
        const ErrorCode code = rewrapped.error().code;
        if (code != ErrorCode::kIntegrity && code != ErrorCode::kInvalidArgument) {
          return KekMissingFromToken(caller.tenant, record.kek_version, rewrapped.error());
        }
        // An unauthentic record stops the job loudly: logged, audited, and
        // reported as the integrity error it is (as Decrypt does).
        spdlog::error("integrity failure during rewrap: record of tenant {} context {}",
                      caller.tenant, record.context_id);
        audit::AuditEvent event = EventFor(caller, audit::Operation::kRewrap, clock_.Now());
        event.context_id = record.context_id;
        event.asset_type = record.asset_type;
        event.asset_id = record.asset_id;
        event.error = ErrorCode::kIntegrity;
        if (auto audited = Audit(std::move(event)); !audited) return audited.error();
        return MakeError(ErrorCode::kIntegrity, "a stored record failed its integrity check");
      }
      auto replaced = store_.ReplaceWrappedKey(caller.tenant, record.context_id, record.kek_version,
                                               ticket->kek.version, *rewrapped);
      // kConflict/kGone: a concurrent rewrap or destroy got there first.
      if (!replaced && replaced.error().code != ErrorCode::kConflict &&
          replaced.error().code != ErrorCode::kGone) {
        return replaced.error();
      }
      if (replaced) ++progress.rewrapped;
      progress.resume_after = record.context_id;
    }
    auto left = store_.CountActiveByKekVersion(caller.tenant, version.version);
    if (!left) return left.error();
    if (*left == 0) {
      // Nothing uses the version any more: retire it (it stays in the token
      // until an admin destroys it).
      if (auto retired =
              store_.SetKekState(caller.tenant, version.version, store::KekState::kRetired);
          !retired && retired.error().code != ErrorCode::kConflict) {
        return retired.error();
      }
    }
    progress.remaining += *left;
  }
  if (pending > 0)
    AuditOutcome(intent, {}, "records rewrapped " + std::to_string(progress.rewrapped));
  return progress;
}

Result<std::shared_ptr<const policy::CompiledPolicy>> Broker::GetPolicy(const Caller& caller) {
  if (!HasRole(caller, policy::kRoleAdmin)) return Forbidden();
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  return policies_.Get(caller.tenant);
}

boost::system::result<std::shared_ptr<const policy::CompiledPolicy>, policy::PolicyError>
Broker::PutPolicy(const Caller& caller, std::string_view document_json) {
  if (auto admitted = AdmitAdminChange(caller, audit::Operation::kPolicyChange); !admitted) {
    return policy::PolicyError{admitted.error(), {}};
  }
  const Instant now = clock_.Now();
  audit::AuditEvent event = EventFor(caller, audit::Operation::kPolicyChange, now);
  event.decision = audit::Decision::kAllow;
  // The event is durable before the document is stored: a policy is never in
  // force unaudited. A store failure after it is audited as its outcome.
  bool announced = false;
  auto stored = policies_.Put(caller.tenant, document_json, now, [&](std::uint64_t version) {
    event.policy_version = version;
    auto audited = Audit(event);
    announced = audited.has_value();
    return audited;
  });
  if (!stored && announced) {
    event.decision = audit::Decision::kDeny;
    event.error = stored.error().error.code;
    event.reason = "policy version not stored";
    (void)Audit(event);  // best effort: the caller gets the store's error either way
  }
  return stored;
}

Result<PolicyEvaluation> Broker::EvaluatePolicy(const Caller& caller, const policy::Facts& facts) {
  if (!HasRole(caller, policy::kRoleAdmin)) return Forbidden();
  if (auto known = AdmitTenant(caller.tenant); !known) return known.error();
  auto policy = policies_.Get(caller.tenant);
  if (!policy) return policy.error();
  policy::Explanation explanation = (*policy)->Explain(facts);
  return PolicyEvaluation{std::move(*policy), std::move(explanation)};
}

}  // namespace kmsd::broker
