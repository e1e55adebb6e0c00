// Schema of the SQLite record store and its numbered migrations.
//
// Migrations are forward-only and numbered from 1; each runs in its own
// IMMEDIATE transaction together with the row that records it in
// `schema_version` (and PRAGMA user_version, for the sqlite3 shell), so a
// crash mid-migration leaves the previous version intact. A shipped migration
// is never edited; a change is a new migration. See docs/store.md.
#pragma once

#include <cstdint>

#include "broker/store/sqlite_connection.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::store::sqlite {

// The schema version this build writes and expects.
std::int64_t LatestSchemaVersion() noexcept;

// Brings the database up to LatestSchemaVersion(), applying each missing
// migration in order. Fails: kInternal when the file is at a NEWER version
// than this build knows (refuse rather than misread it); kStoreUnavailable
// when it cannot be read or written.
Status Migrate(Connection& conn, Instant now);

// The version recorded in the file (0 for an empty file).
Result<std::int64_t> CurrentSchemaVersion(Connection& conn);

}  // namespace kmsd::store::sqlite
