#include "broker/store/sqlite_ops.h"

#include "broker/store/context_id.h"

namespace kmsd::store::sqlite {

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "store: " + std::move(message));
}

Status ValidateTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 256) {
    return Invalid("tenant must be 1..256 bytes");
  }
  return {};
}

Status ValidateKey(std::string_view tenant, std::string_view context_id) {
  if (auto s = ValidateTenant(tenant); !s) return s;
  return ValidateContextId(context_id);
}

Status ValidateNewRecord(const Record& r) {
  if (auto s = ValidateKey(r.tenant, r.context_id); !s) return s;
  if (r.state != RecordState::kActive || r.destroyed_at.has_value()) {
    return Invalid("a new record must be active");
  }
  if (r.wrapped_key.empty()) return Invalid("a new record needs a wrapped key");
  if (r.kek_version == 0) return Invalid("KEK versions start at 1");
  return {};
}

// Reads the columns of kRecordColumns from a row.
Result<Record> ReadRecord(const sqlite::Statement& row) {
  Record r;
  r.tenant = row.Text(0);
  r.context_id = row.Text(1);
  r.asset_type = row.Text(2);
  r.asset_id = row.Text(3);
  r.created_at = FromUnixMicros(row.Int64(4));
  r.kek_version = static_cast<std::uint32_t>(row.Int64(5));
  if (!row.IsNull(6)) r.wrapped_key = row.Blob(6);
  const auto state = ParseRecordState(row.Text(7));
  if (!state) return MakeError(ErrorCode::kInternal, "store: record row with unknown state");
  r.state = *state;
  if (!row.IsNull(8)) r.destroyed_at = FromUnixMicros(row.Int64(8));
  return r;
}

// The state of a tenant's KEK version, or kNotFound.
Result<KekState> ReadKekState(Connection& conn, std::string_view tenant, std::uint32_t version) {
  auto stmt = conn.Prepare("SELECT state FROM kek_versions WHERE tenant = ?1 AND version = ?2");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, std::int64_t{version});
  const int rc = stmt->Step();
  if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, "store: unknown KEK version");
  if (rc != SQLITE_ROW) return StoreError(rc, "read KEK version");
  const auto state = ParseKekState(stmt->Text(0));
  if (!state) return MakeError(ErrorCode::kInternal, "store: KEK version with unknown state");
  return *state;
}

// OK when the version may wrap keys (current or active).
Status CheckWrapsUnder(Connection& conn, std::string_view tenant, std::uint32_t version) {
  auto state = ReadKekState(conn, tenant, version);
  if (!state) return state.error();
  switch (*state) {
    case KekState::kCurrent:
    case KekState::kActive: return {};
    case KekState::kRetired:
      return MakeError(ErrorCode::kConflict, "store: KEK version is retired");
    case KekState::kDestroyed:
      return MakeError(ErrorCode::kGone, "store: KEK version is destroyed");
  }
  return MakeError(ErrorCode::kInternal, "store: KEK state");
}

Result<std::uint64_t> CountActive(Connection& conn, std::string_view tenant,
                                  std::uint32_t version) {
  auto stmt = conn.Prepare(
      "SELECT count(*) FROM records WHERE tenant = ?1 AND kek_version = ?2 AND state = 'active'");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, std::int64_t{version});
  const int rc = stmt->Step();
  if (rc != SQLITE_ROW) return StoreError(rc, "count records");
  return static_cast<std::uint64_t>(stmt->Int64(0));
}

// Inserts one validated record inside the caller's transaction.
Status InsertRow(Connection& conn, const Record& r) {
  if (auto s = CheckWrapsUnder(conn, r.tenant, r.kek_version); !s) return s;
  auto stmt = conn.Prepare(
      "INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at, kek_version,"
      " wrapped_key, state, destroyed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', NULL)"
      " ON CONFLICT (tenant, context_id) DO NOTHING");
  if (!stmt) return stmt.error();
  stmt->Bind(1, r.tenant);
  stmt->Bind(2, r.context_id);
  stmt->Bind(3, r.asset_type);
  stmt->Bind(4, r.asset_id);
  stmt->Bind(5, ToUnixMicros(r.created_at));
  stmt->Bind(6, std::int64_t{r.kek_version});
  stmt->BindBlob(7, r.wrapped_key);
  if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "insert record");
  if (conn.Changes() == 0) return MakeError(ErrorCode::kConflict, "store: context id in use");
  return {};
}

// Shreds one active record; returns 1, or 0 when no active record matched.
Result<std::uint64_t> ShredRecord(Connection& conn, std::string_view tenant,
                                  std::string_view context_id, Instant when) {
  auto stmt = conn.Prepare(
      "UPDATE records SET state = 'destroyed', destroyed_at = ?3, wrapped_key = NULL"
      " WHERE tenant = ?1 AND context_id = ?2 AND state = 'active'");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, context_id);
  stmt->Bind(3, ToUnixMicros(when));
  if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "destroy record");
  return static_cast<std::uint64_t>(conn.Changes());
}

// The state of the (tenant, context id) row, or kNotFound. Used after a
// conditional UPDATE matched nothing, to tell the caller why.
Result<RecordState> ReadRecordState(Connection& conn, std::string_view tenant,
                                    std::string_view context_id) {
  auto stmt = conn.Prepare("SELECT state FROM records WHERE tenant = ?1 AND context_id = ?2");
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, context_id);
  const int rc = stmt->Step();
  if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, "store: no such record");
  if (rc != SQLITE_ROW) return StoreError(rc, "read record");
  const auto state = ParseRecordState(stmt->Text(0));
  if (!state) return MakeError(ErrorCode::kInternal, "store: record row with unknown state");
  return *state;
}

}  // namespace kmsd::store::sqlite
