// Optional forwarding of durable audit events to the systemd journal.
#pragma once

#include "broker/audit/audit_event.h"

namespace kmsd::audit {

// Sends one structured journal entry (SYSLOG_IDENTIFIER=kmsd-audit,
// KMSD_AUDIT_SEQ, KMSD_AUDIT_TENANT, ... one field per event field). Best
// effort: the file is the record of truth, a journal failure is ignored.
void ForwardToJournald(const AuditEvent& event) noexcept;

}  // namespace kmsd::audit
