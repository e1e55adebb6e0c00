// SqliteRecordStore: KEK versions, policy documents and health.
#include <limits>
#include <utility>

#include "broker/store/sqlite_connection.h"
#include "broker/store/sqlite_ops.h"
#include "broker/store/sqlite_read_pool.h"
#include "broker/store/sqlite_record_store.h"
#include "broker/store/sqlite_schema.h"
#include "broker/store/sqlite_writer.h"

namespace kmsd::store {

using sqlite::CheckWrapsUnder;
using sqlite::Connection;
using sqlite::CountActive;
using sqlite::Invalid;
using sqlite::ReadKekState;
using sqlite::StoreError;
using sqlite::ValidateTenant;

// ---- KEK versions ------------------------------------------------------------

Result<std::vector<KekVersionInfo>> SqliteRecordStore::ListKekVersions(std::string_view tenant) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  auto conn = readers_->Acquire();
  auto stmt = conn->Prepare(
      "SELECT version, state, created_at, wraps_reserved FROM kek_versions"
      " WHERE tenant = ?1 ORDER BY version");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  std::vector<KekVersionInfo> out;
  for (;;) {
    const int rc = stmt->Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return StoreError(rc, "list KEK versions");
    const auto state = ParseKekState(stmt->Text(1));
    if (!state) return MakeError(ErrorCode::kInternal, "store: KEK version with unknown state");
    out.push_back(KekVersionInfo{static_cast<std::uint32_t>(stmt->Int64(0)), *state,
                                 FromUnixMicros(stmt->Int64(2)),
                                 static_cast<std::uint64_t>(stmt->Int64(3))});
  }
  return out;
}

Status SqliteRecordStore::AddKekVersion(std::string_view tenant, std::uint32_t version,
                                        Instant created_at) {
  if (auto s = ValidateTenant(tenant); !s) return s;
  if (version == 0) return Invalid("KEK versions start at 1");
  return writer_->Run([&](Connection& conn) -> Status {
    auto newest = conn.Prepare("SELECT max(version) FROM kek_versions WHERE tenant = ?1");
    if (!newest) return newest.error();
    newest->Bind(1, tenant);
    if (const int rc = newest->Step(); rc != SQLITE_ROW) return StoreError(rc, "read KEK");
    if (!newest->IsNull(0) && newest->Int64(0) >= std::int64_t{version}) {
      return MakeError(ErrorCode::kConflict, "store: KEK version not newer than the newest");
    }
    auto demote = conn.Prepare(
        "UPDATE kek_versions SET state = 'active' WHERE tenant = ?1 AND state = 'current'");
    if (!demote) return demote.error();
    demote->Bind(1, tenant);
    if (const int rc = demote->Step(); rc != SQLITE_DONE) return StoreError(rc, "rotate KEK");
    auto add = conn.Prepare(
        "INSERT INTO kek_versions (tenant, version, state, created_at, wraps_reserved)"
        " VALUES (?1, ?2, 'current', ?3, 0)");
    if (!add) return add.error();
    add->Bind(1, tenant);
    add->Bind(2, std::int64_t{version});
    add->Bind(3, ToUnixMicros(created_at));
    if (const int rc = add->Step(); rc != SQLITE_DONE) return StoreError(rc, "add KEK version");
    return {};
  });
}

Status SqliteRecordStore::SetKekState(std::string_view tenant, std::uint32_t version,
                                      KekState state) {
  if (auto s = ValidateTenant(tenant); !s) return s;
  if (state == KekState::kCurrent) return Invalid("only AddKekVersion makes a version current");
  return writer_->Run([&](Connection& conn) -> Status {
    auto old_state = ReadKekState(conn, tenant, version);
    if (!old_state) return old_state.error();
    if (*old_state == state) return {};
    if (*old_state == KekState::kDestroyed) {
      return MakeError(ErrorCode::kGone, "store: KEK version is destroyed");
    }
    if (*old_state == KekState::kCurrent) {
      return MakeError(ErrorCode::kConflict, "store: the current KEK version cannot change state");
    }
    if (state == KekState::kRetired || state == KekState::kDestroyed) {
      auto in_use = CountActive(conn, tenant, version);
      if (!in_use) return in_use.error();
      if (*in_use > 0) {
        return MakeError(ErrorCode::kConflict, "store: active records use the KEK version");
      }
    }
    auto stmt =
        conn.Prepare("UPDATE kek_versions SET state = ?3 WHERE tenant = ?1 AND version = ?2");
    if (!stmt) return stmt.error();
    stmt->Bind(1, tenant);
    stmt->Bind(2, std::int64_t{version});
    stmt->Bind(3, KekStateName(state));
    if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "set KEK state");
    return {};
  });
}

Result<std::uint64_t> SqliteRecordStore::ReserveWraps(std::string_view tenant,
                                                      std::uint32_t version, std::uint64_t n) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  if (n == 0 || n > kMaxWrapReservation) return Invalid("wrap reservation must be 1..2^32");
  std::uint64_t total = 0;
  auto status = writer_->Run([&](Connection& conn) -> Status {
    if (auto s = CheckWrapsUnder(conn, tenant, version); !s) return s;
    // SQLite turns an overflowing integer sum into a REAL: refuse before that.
    auto stmt = conn.Prepare(
        "UPDATE kek_versions SET wraps_reserved = wraps_reserved + ?3"
        " WHERE tenant = ?1 AND version = ?2 AND wraps_reserved <= ?4 RETURNING wraps_reserved");
    if (!stmt) return stmt.error();
    stmt->Bind(1, tenant);
    stmt->Bind(2, std::int64_t{version});
    stmt->Bind(3, static_cast<std::int64_t>(n));
    stmt->Bind(4, std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(n));
    const int rc = stmt->Step();
    if (rc == SQLITE_DONE) return Invalid("wrap counter would overflow");
    if (rc != SQLITE_ROW) return StoreError(rc, "reserve wraps");
    total = static_cast<std::uint64_t>(stmt->Int64(0));
    // RETURNING rows are produced before the statement completes: run it to
    // the end so the update is applied before the savepoint is released.
    if (const int done = stmt->Step(); done != SQLITE_DONE) return StoreError(done, "reserve");
    return {};
  });
  if (!status) return status.error();
  return total;
}

// ---- policy documents --------------------------------------------------------

Result<std::optional<PolicyDocumentRow>> SqliteRecordStore::GetPolicy(std::string_view tenant) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  auto conn = readers_->Acquire();
  auto stmt = conn->Prepare(
      "SELECT version, document, updated_at FROM policies WHERE tenant = ?1"
      " ORDER BY version DESC LIMIT 1");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  const int rc = stmt->Step();
  if (rc == SQLITE_DONE) return std::optional<PolicyDocumentRow>();
  if (rc != SQLITE_ROW) return StoreError(rc, "read policy");
  return std::optional<PolicyDocumentRow>(PolicyDocumentRow{
      static_cast<std::uint64_t>(stmt->Int64(0)), stmt->Text(1), FromUnixMicros(stmt->Int64(2))});
}

Result<std::uint64_t> SqliteRecordStore::PutPolicy(std::string_view tenant,
                                                   std::string document_json, Instant updated_at) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  if (document_json.empty()) return Invalid("policy document is empty");
  std::uint64_t version = 0;
  auto status = writer_->Run([&](Connection& conn) -> Status {
    auto stmt = conn.Prepare(
        "INSERT INTO policies (tenant, version, document, updated_at)"
        " SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3 FROM policies WHERE tenant = ?1"
        " RETURNING version");
    if (!stmt) return stmt.error();
    stmt->Bind(1, tenant);
    stmt->Bind(2, document_json);
    stmt->Bind(3, ToUnixMicros(updated_at));
    const int rc = stmt->Step();
    if (rc != SQLITE_ROW) return StoreError(rc, "store policy");
    version = static_cast<std::uint64_t>(stmt->Int64(0));
    if (const int done = stmt->Step(); done != SQLITE_DONE) return StoreError(done, "policy");
    return {};
  });
  if (!status) return status.error();
  return version;
}

// ---- authorization-token replay ----------------------------------------------

Result<bool> SqliteRecordStore::RecordJtiIfNew(std::string_view tenant, std::string_view jti,
                                               Instant expires_at, Instant now) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  if (jti.empty() || jti.size() > 256) return Invalid("jti must be 1..256 bytes");
  bool recorded = false;
  auto status = writer_->Run([&](Connection& conn) -> Status {
    // Bounded purge: the table holds at most a token lifetime of spent ids.
    auto purge = conn.Prepare(
        "DELETE FROM used_jtis WHERE (tenant, jti) IN"
        " (SELECT tenant, jti FROM used_jtis WHERE expires_at <= ?1 LIMIT 64)");
    if (!purge) return purge.error();
    purge->Bind(1, ToUnixMicros(now));
    if (const int rc = purge->Step(); rc != SQLITE_DONE) return StoreError(rc, "purge jtis");
    auto insert = conn.Prepare(
        "INSERT INTO used_jtis (tenant, jti, expires_at) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (tenant, jti) DO UPDATE SET expires_at = excluded.expires_at"
        " WHERE used_jtis.expires_at <= ?4");
    if (!insert) return insert.error();
    insert->Bind(1, tenant);
    insert->Bind(2, jti);
    insert->Bind(3, ToUnixMicros(expires_at));
    insert->Bind(4, ToUnixMicros(now));
    if (const int rc = insert->Step(); rc != SQLITE_DONE) return StoreError(rc, "record jti");
    recorded = conn.Changes() == 1;
    return {};
  });
  if (!status) return status.error();
  return recorded;
}

Status SqliteRecordStore::ForgetJti(std::string_view tenant, std::string_view jti) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  if (jti.empty() || jti.size() > 256) return Invalid("jti must be 1..256 bytes");
  return writer_->Run([&](Connection& conn) -> Status {
    auto stmt = conn.Prepare("DELETE FROM used_jtis WHERE tenant = ?1 AND jti = ?2");
    if (!stmt) return stmt.error();
    stmt->Bind(1, tenant);
    stmt->Bind(2, jti);
    if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "forget jti");
    return {};
  });
}

// ---- operations --------------------------------------------------------------

Status SqliteRecordStore::CheckHealth() {
  {
    auto conn = readers_->Acquire();
    auto version = sqlite::CurrentSchemaVersion(*conn);
    if (!version) return version.error();
    if (*version != sqlite::LatestSchemaVersion()) {
      return MakeError(ErrorCode::kInternal, "store: unexpected schema version");
    }
  }
  if (!writer_->degraded()) return {};
  // The last batch failed: prove that writing works again before reporting
  // ready (a read alone does not notice a full disk or a lost lock).
  const std::int64_t now = ToUnixMicros(SystemClock().Now());
  return writer_->Run([&](Connection& conn) -> Status {
    auto stmt = conn.Prepare(
        "INSERT INTO store_health (id, checked_at) VALUES (1, ?1)"
        " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at");
    if (!stmt) return stmt.error();
    stmt->Bind(1, now);
    if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "health probe");
    return {};
  });
}

}  // namespace kmsd::store
