#include "broker/audit/journald.h"

#include <systemd/sd-journal.h>

#include <string>

namespace kmsd::audit {

void ForwardToJournald(const AuditEvent& e) noexcept {
  const std::string operation(OperationName(e.operation));
  const std::string decision(DecisionName(e.decision));
  const std::string outcome(OutcomeName(e));
  const std::string time = FormatRfc3339(e.time);
  (void)sd_journal_send(
      "MESSAGE=kmsd audit seq=%llu tenant=%s operation=%s decision=%s outcome=%s",
      static_cast<unsigned long long>(e.seq), e.tenant.c_str(), operation.c_str(), decision.c_str(),
      outcome.c_str(), "PRIORITY=6", "SYSLOG_IDENTIFIER=kmsd-audit", "KMSD_AUDIT_SEQ=%llu",
      static_cast<unsigned long long>(e.seq), "KMSD_AUDIT_TIME=%s", time.c_str(),
      "KMSD_AUDIT_TENANT=%s", e.tenant.c_str(), "KMSD_AUDIT_PRINCIPAL=%s", e.principal.c_str(),
      "KMSD_AUDIT_OPERATION=%s", operation.c_str(), "KMSD_AUDIT_CONTEXT_ID=%s",
      e.context_id.c_str(), "KMSD_AUDIT_ASSET_TYPE=%s", e.asset_type.c_str(),
      "KMSD_AUDIT_ASSET_ID=%s", e.asset_id.c_str(), "KMSD_AUDIT_DECISION=%s", decision.c_str(),
      "KMSD_AUDIT_RULE=%s", e.rule.c_str(), "KMSD_AUDIT_POLICY_VERSION=%llu",
      static_cast<unsigned long long>(e.policy_version), "KMSD_AUDIT_REQUEST_ID=%s",
      e.request_id.c_str(), "KMSD_AUDIT_OUTCOME=%s", outcome.c_str(), "KMSD_AUDIT_REASON=%s",
      e.reason.c_str(), nullptr);
}

}  // namespace kmsd::audit
