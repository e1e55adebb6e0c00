// AuditLogSink lets the broker's flows append to the durable hash-chained
// audit log (checkpoints are signed in the token by
// audit::KeyServiceCheckpointSigner).
#pragma once

#include "broker/audit/audit_log.h"
#include "broker/broker.h"

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

}  // namespace kmsd::broker
