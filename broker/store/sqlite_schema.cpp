#include "broker/store/sqlite_schema.h"

#include <array>
#include <string>

namespace kmsd::store::sqlite {
namespace {

struct Migration {
  std::int64_t version;
  const char* sql;
  // The pages it frees hold no key material, so secure_delete need not
  // overwrite them (which would write every freed page once more, through
  // the WAL, at the first start on a large store).
  bool frees_only_public_pages = false;
};

// Instants are unix microseconds (INTEGER). Text is compared bytewise
// (BINARY collation), which is what keyset pagination over context ids needs.
constexpr const char kMigration1[] = R"sql(
CREATE TABLE kek_versions (
  tenant         TEXT    NOT NULL CHECK (length(tenant) > 0),
  version        INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  state          TEXT    NOT NULL CHECK (state IN ('current', 'active', 'retired', 'destroyed')),
  created_at     INTEGER NOT NULL,
  wraps_reserved INTEGER NOT NULL DEFAULT 0 CHECK (wraps_reserved >= 0),
  PRIMARY KEY (tenant, version)
) WITHOUT ROWID;
-- At most one current version per tenant, enforced by the file itself.
CREATE UNIQUE INDEX kek_versions_one_current ON kek_versions (tenant) WHERE state = 'current';

CREATE TABLE records (
  id           INTEGER PRIMARY KEY,
  tenant       TEXT    NOT NULL CHECK (length(tenant) > 0),
  context_id   TEXT    NOT NULL CHECK (length(context_id) BETWEEN 1 AND 128),
  asset_type   TEXT    NOT NULL,
  asset_id     TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  kek_version  INTEGER NOT NULL,
  wrapped_key  BLOB,
  state        TEXT    NOT NULL,
  destroyed_at INTEGER,
  UNIQUE (tenant, context_id),
  FOREIGN KEY (tenant, kek_version) REFERENCES kek_versions (tenant, version),
  -- A row is either live with its key or shredded without it; nothing between.
  CHECK ((state = 'active' AND wrapped_key IS NOT NULL AND length(wrapped_key) > 0
          AND destroyed_at IS NULL)
      OR (state = 'destroyed' AND wrapped_key IS NULL AND destroyed_at IS NOT NULL))
);
CREATE INDEX records_by_asset   ON records (tenant, asset_id);
CREATE INDEX records_by_created ON records (tenant, created_at);
-- Rewrap and KEK destruction walk the active records of one version in
-- context id order (keyset pagination).
CREATE INDEX records_by_kek ON records (tenant, kek_version, context_id) WHERE state = 'active';

CREATE TABLE policies (
  tenant     TEXT    NOT NULL CHECK (length(tenant) > 0),
  version    INTEGER NOT NULL CHECK (version >= 1),
  document   TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, version)
) WITHOUT ROWID;

-- One row, rewritten by the health probe after a failed write.
CREATE TABLE store_health (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
)sql";

// Authorization-token ids already spent, kept until the token's expiry (plus
// leeway) so that a replay is refused across restarts and, later, daemons.
constexpr const char kMigration2[] = R"sql(
CREATE TABLE used_jtis (
  tenant     TEXT    NOT NULL CHECK (length(tenant) > 0),
  jti        TEXT    NOT NULL CHECK (length(jti) BETWEEN 1 AND 256),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, jti)
) WITHOUT ROWID;
CREATE INDEX used_jtis_by_expiry ON used_jtis (expires_at);
)sql";

// Nothing queries records by asset id or creation time (policy facts come
// from the record found by its context id), so these two indexes only cost
// every insert two more B-tree writes and the file a fifth of its size.
// They hold tenant, asset id and creation time, which the table keeps
// anyway: no key material is freed.
constexpr const char kMigration3[] = R"sql(
DROP INDEX IF EXISTS records_by_asset;
DROP INDEX IF EXISTS records_by_created;
)sql";

constexpr std::array<Migration, 3> kMigrations{
    {{1, kMigration1}, {2, kMigration2}, {3, kMigration3, /*frees_only_public_pages=*/true}}};

Status EnsureVersionTable(Connection& conn) {
  return conn.Exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
      "create schema_version");
}

Status ApplyInTransaction(Connection& conn, const Migration& m, Instant now);

Status Apply(Connection& conn, const Migration& m, Instant now) {
  if (!m.frees_only_public_pages) return ApplyInTransaction(conn, m, now);
  if (auto s = conn.Exec("PRAGMA secure_delete=FAST", "migration delete mode"); !s) return s;
  const Status applied = ApplyInTransaction(conn, m, now);
  // Back on before any key can be written or shredded; if that fails, the
  // store does not open.
  if (auto s = conn.Exec("PRAGMA secure_delete=ON", "restore secure_delete"); !s) return s;
  return applied;
}

Status ApplyInTransaction(Connection& conn, const Migration& m, Instant now) {
  if (auto s = conn.Exec("BEGIN IMMEDIATE", "begin migration"); !s) return s;
  auto fail = [&](Error e) -> Status {
    (void)conn.Exec("ROLLBACK", "rollback migration");
    return e;
  };
  // Another process may have migrated while this one waited for the lock.
  auto current = CurrentSchemaVersion(conn);
  if (!current) return fail(current.error());
  if (*current >= m.version) return conn.Exec("COMMIT", "commit migration");
  if (*current != m.version - 1) {
    return fail(MakeError(ErrorCode::kInternal, "store: schema version gap"));
  }
  if (auto s = conn.Exec(m.sql, "migrate schema"); !s) return fail(s.error());
  {
    auto stmt = conn.Prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)");
    if (!stmt) return fail(stmt.error());
    stmt->Bind(1, m.version);
    stmt->Bind(2, ToUnixMicros(now));
    if (const int rc = stmt->Step(); rc != SQLITE_DONE) {
      return fail(StoreError(rc, "record schema version"));
    }
  }
  const std::string pragma = "PRAGMA user_version=" + std::to_string(m.version);
  if (auto s = conn.Exec(pragma.c_str(), "set user_version"); !s) return fail(s.error());
  return conn.Exec("COMMIT", "commit migration");
}

}  // namespace

std::int64_t LatestSchemaVersion() noexcept { return kMigrations.back().version; }

Result<std::int64_t> CurrentSchemaVersion(Connection& conn) {
  auto stmt = conn.Prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!stmt) return stmt.error();
  const int rc = stmt->Step();
  if (rc != SQLITE_ROW) return StoreError(rc, "read schema version");
  return stmt->Int64(0);
}

Status Migrate(Connection& conn, Instant now) {
  if (auto s = EnsureVersionTable(conn); !s) return s;
  auto current = CurrentSchemaVersion(conn);
  if (!current) return current.error();
  if (*current > LatestSchemaVersion()) {
    return MakeError(ErrorCode::kInternal, "store: schema is newer than this build");
  }
  for (const auto& m : kMigrations) {
    if (m.version <= *current) continue;
    if (auto s = Apply(conn, m, now); !s) return s;
  }
  return {};
}

}  // namespace kmsd::store::sqlite
