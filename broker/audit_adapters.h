// Glue between the audit trail and the rest of the broker.
//
// AuditLogSink lets the broker's flows append to the durable hash-chained
// audit log; TokenCheckpointSigner signs the log's checkpoints with the audit
// key held in the token (hsm::KeyService), so that even someone who can
// rewrite every audit file cannot forge the chain.
#pragma once

#include <string>

#include "broker/audit/audit_log.h"
#include "broker/audit/checkpoint_signer.h"
#include "broker/broker.h"
#include "hsm/key_service.h"

namespace kmsd::broker {

class AuditLogSink final : public AuditSink {
 public:
  explicit AuditLogSink(audit::AuditLog& log) : log_(log) {}
  Result<std::uint64_t> Append(audit::AuditEvent event) override {
    return log_.Append(std::move(event));
  }

 private:
  audit::AuditLog& log_;
};

class TokenCheckpointSigner final : public audit::CheckpointSigner {
 public:
  // `key_id` names the signer in checkpoint lines (e.g. the token label).
  TokenCheckpointSigner(hsm::KeyService& keys, std::string key_id)
      : keys_(keys), key_id_(std::move(key_id)) {}
  Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t> message) override {
    return keys_.SignAuditCheckpoint(message);
  }
  std::string KeyId() const override { return key_id_; }

 private:
  hsm::KeyService& keys_;
  const std::string key_id_;
};

}  // namespace kmsd::broker
