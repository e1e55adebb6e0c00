// SqliteRecordStore: lifecycle and records.
#include "broker/store/sqlite_record_store.h"

#include <algorithm>
#include <utility>

#include "broker/store/context_id.h"
#include "broker/store/sqlite_connection.h"
#include "broker/store/sqlite_ops.h"
#include "broker/store/sqlite_read_pool.h"
#include "broker/store/sqlite_schema.h"
#include "broker/store/sqlite_writer.h"

namespace kmsd::store {

using sqlite::CheckWrapsUnder;
using sqlite::Connection;
using sqlite::CountActive;
using sqlite::InsertRow;
using sqlite::Invalid;
using sqlite::kRecordColumns;
using sqlite::ReadKekState;
using sqlite::ReadRecord;
using sqlite::ReadRecordState;
using sqlite::ShredRecord;
using sqlite::StoreError;
using sqlite::ValidateKey;
using sqlite::ValidateNewRecord;
using sqlite::ValidateTenant;

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

}  // namespace kmsd::store
