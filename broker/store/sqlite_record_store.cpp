#include "broker/store/sqlite_record_store.h"

#include <limits>
#include <utility>

#include "broker/store/context_id.h"
#include "broker/store/sqlite_connection.h"
#include "broker/store/sqlite_read_pool.h"
#include "broker/store/sqlite_schema.h"
#include "broker/store/sqlite_writer.h"

namespace kmsd::store {

using sqlite::Connection;
using sqlite::StoreError;

namespace {

constexpr std::size_t kMaxTenantLength = 256;

constexpr const char kRecordColumns[] =
    "tenant, context_id, asset_type, asset_id, created_at, kek_version, wrapped_key, state,"
    " destroyed_at";

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "store: " + std::move(message));
}

Status ValidateTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) {
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

}  // namespace

// ---- lifecycle ---------------------------------------------------------------

Result<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::Open(
    const SqliteStoreOptions& options) {
  auto conn = Connection::Open(options.path, {.create = true,
                                              .read_only = false,
                                              .busy_timeout = options.busy_timeout,
                                              .cache_kib = options.writer_cache_kib});
  if (!conn) return conn.error();
  if (auto s = sqlite::Migrate(**conn, SystemClock().Now()); !s) return s.error();
  auto readers = sqlite::ReadPool::Open(options.path, options.read_connections,
                                        options.busy_timeout, options.reader_cache_kib);
  if (!readers) return readers.error();
  auto writer = std::make_unique<sqlite::GroupCommitWriter>(std::move(*conn), options.max_batch);
  return std::unique_ptr<SqliteRecordStore>(
      new SqliteRecordStore(options, std::move(writer), std::move(*readers)));
}

SqliteRecordStore::SqliteRecordStore(SqliteStoreOptions options,
                                     std::unique_ptr<sqlite::GroupCommitWriter> writer,
                                     std::unique_ptr<sqlite::ReadPool> readers)
    : options_(std::move(options)), writer_(std::move(writer)), readers_(std::move(readers)) {}

// The writer is destroyed first (declaration order reversed): it drains its
// queue before the read connections close.
SqliteRecordStore::~SqliteRecordStore() = default;

WriterStats SqliteRecordStore::write_stats() const { return writer_->stats(); }

// ---- records -----------------------------------------------------------------

Status SqliteRecordStore::Insert(const Record& record) {
  if (auto s = ValidateNewRecord(record); !s) return s;
  return writer_->Run([&](Connection& conn) { return InsertRow(conn, record); });
}

Result<Record> SqliteRecordStore::Find(std::string_view tenant, std::string_view context_id) {
  if (auto s = ValidateKey(tenant, context_id); !s) return s.error();
  auto conn = readers_->Acquire();
  static const std::string kSql = std::string("SELECT ") + kRecordColumns +
                                  " FROM records WHERE tenant = ?1 AND context_id = ?2";
  auto stmt = conn->Prepare(kSql);
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, context_id);
  const int rc = stmt->Step();
  if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, "store: no such record");
  if (rc != SQLITE_ROW) return StoreError(rc, "find record");
  return ReadRecord(*stmt);
}

Status SqliteRecordStore::MarkDestroyed(std::string_view tenant, std::string_view context_id,
                                        Instant when) {
  if (auto s = ValidateKey(tenant, context_id); !s) return s;
  return writer_->Run(
      [&](Connection& conn) -> Status {
        auto shredded = ShredRecord(conn, tenant, context_id, when);
        if (!shredded) return shredded.error();
        if (*shredded == 1) return {};
        auto state = ReadRecordState(conn, tenant, context_id);
        if (!state) return state.error();
        return MakeError(ErrorCode::kGone, "store: record already destroyed");
      },
      /*shreds=*/true);
}

Result<std::vector<Record>> SqliteRecordStore::ListByKekVersion(std::string_view tenant,
                                                                std::uint32_t kek_version,
                                                                std::string_view after_context_id,
                                                                std::size_t limit) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  if (limit == 0 || limit > kMaxListLimit) return Invalid("limit must be 1..10000");
  if (after_context_id.size() > kMaxContextIdLength) return Invalid("cursor too long");
  auto conn = readers_->Acquire();
  static const std::string kSql = std::string("SELECT ") + kRecordColumns +
                                  " FROM records WHERE tenant = ?1 AND kek_version = ?2"
                                  " AND state = 'active' AND context_id > ?3"
                                  " ORDER BY context_id LIMIT ?4";
  auto stmt = conn->Prepare(kSql);
  if (!stmt) return stmt.error();
  stmt->Bind(1, tenant);
  stmt->Bind(2, std::int64_t{kek_version});
  stmt->Bind(3, after_context_id);
  stmt->Bind(4, static_cast<std::int64_t>(limit));
  std::vector<Record> out;
  for (;;) {
    const int rc = stmt->Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return StoreError(rc, "list records");
    auto r = ReadRecord(*stmt);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

Status SqliteRecordStore::ReplaceWrappedKey(std::string_view tenant, std::string_view context_id,
                                            std::uint32_t expected_old_version,
                                            std::uint32_t new_version,
                                            std::span<const std::uint8_t> new_wrapped) {
  if (auto s = ValidateKey(tenant, context_id); !s) return s;
  if (new_wrapped.empty()) return Invalid("a wrapped key is required");
  return writer_->Run([&](Connection& conn) -> Status {
    if (auto s = CheckWrapsUnder(conn, tenant, new_version); !s) return s;
    auto stmt = conn.Prepare(
        "UPDATE records SET wrapped_key = ?5, kek_version = ?4"
        " WHERE tenant = ?1 AND context_id = ?2 AND state = 'active' AND kek_version = ?3");
    if (!stmt) return stmt.error();
    stmt->Bind(1, tenant);
    stmt->Bind(2, context_id);
    stmt->Bind(3, std::int64_t{expected_old_version});
    stmt->Bind(4, std::int64_t{new_version});
    stmt->BindBlob(5, new_wrapped);
    if (const int rc = stmt->Step(); rc != SQLITE_DONE) return StoreError(rc, "rewrap record");
    if (conn.Changes() == 1) return {};
    auto state = ReadRecordState(conn, tenant, context_id);
    if (!state) return state.error();
    if (*state == RecordState::kDestroyed) {
      return MakeError(ErrorCode::kGone, "store: record destroyed");
    }
    return MakeError(ErrorCode::kConflict, "store: record is not under the expected KEK version");
  });
}

Result<std::uint64_t> SqliteRecordStore::CountActiveByKekVersion(std::string_view tenant,
                                                                 std::uint32_t kek_version) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  auto conn = readers_->Acquire();
  return CountActive(*conn, tenant, kek_version);
}

Result<std::uint64_t> SqliteRecordStore::DestroyAllByKekVersion(std::string_view tenant,
                                                                std::uint32_t kek_version,
                                                                Instant when) {
  if (auto s = ValidateTenant(tenant); !s) return s.error();
  std::uint64_t shredded = 0;
  auto status = writer_->Run(
      [&](Connection& conn) -> Status {
        auto state = ReadKekState(conn, tenant, kek_version);
        if (!state) return state.error();
        if (*state == KekState::kDestroyed) {
          return MakeError(ErrorCode::kGone, "store: KEK version already destroyed");
        }
        if (*state == KekState::kCurrent) {
          return MakeError(ErrorCode::kConflict, "store: cannot destroy the current KEK version");
        }
        auto stmt = conn.Prepare(
            "UPDATE records SET state = 'destroyed', destroyed_at = ?3, wrapped_key = NULL"
            " WHERE tenant = ?1 AND kek_version = ?2 AND state = 'active'");
        if (!stmt) return stmt.error();
        stmt->Bind(1, tenant);
        stmt->Bind(2, std::int64_t{kek_version});
        stmt->Bind(3, ToUnixMicros(when));
        if (const int rc = stmt->Step(); rc != SQLITE_DONE) {
          return StoreError(rc, "destroy records");
        }
        shredded = static_cast<std::uint64_t>(conn.Changes());
        auto mark = conn.Prepare(
            "UPDATE kek_versions SET state = 'destroyed' WHERE tenant = ?1 AND version = ?2");
        if (!mark) return mark.error();
        mark->Bind(1, tenant);
        mark->Bind(2, std::int64_t{kek_version});
        if (const int rc = mark->Step(); rc != SQLITE_DONE) {
          return StoreError(rc, "destroy KEK version");
        }
        return {};
      },
      /*shreds=*/true);
  if (!status) return status.error();
  return shredded;
}

Status SqliteRecordStore::BulkInsert(std::span<const Record> records) {
  for (const auto& r : records) {
    if (auto s = ValidateNewRecord(r); !s) return s;
  }
  const std::size_t chunk = std::max<std::size_t>(1, options_.bulk_chunk_rows);
  return writer_->RunAlone([&](Connection& conn) -> Status {
    for (std::size_t begin = 0; begin < records.size(); begin += chunk) {
      const std::size_t end = std::min(records.size(), begin + chunk);
      if (auto s = conn.Exec("BEGIN IMMEDIATE", "begin bulk"); !s) return s;
      for (std::size_t i = begin; i < end; ++i) {
        if (auto s = InsertRow(conn, records[i]); !s) {
          (void)conn.Exec("ROLLBACK", "rollback bulk");
          return s;
        }
      }
      if (auto s = conn.CheckNotMoved(); !s) {
        (void)conn.Exec("ROLLBACK", "rollback bulk");
        return s;
      }
      if (auto s = conn.Exec("COMMIT", "commit bulk"); !s) return s;
    }
    return {};
  });
}

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
