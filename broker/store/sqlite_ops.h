// Building blocks of SqliteRecordStore's operations, shared by its .cpp
// files: argument checks, row readers and the statements that more than one
// operation runs. Each runs on the connection it is given, inside whatever
// transaction the caller holds; none begins or commits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/store/record.h"
#include "broker/store/sqlite_connection.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::store::sqlite {

// The columns ReadRecord expects, in order.
inline constexpr char kRecordColumns[] =
    "tenant, context_id, asset_type, asset_id, created_at, kek_version, wrapped_key, state,"
    " destroyed_at";

// kInvalidArgument with "store: " + message.
Error Invalid(std::string message);

// Tenant 1..256 bytes.
Status ValidateTenant(std::string_view tenant);
// Tenant as above and ValidateContextId.
Status ValidateKey(std::string_view tenant, std::string_view context_id);
// What Insert and BulkInsert accept.
Status ValidateNewRecord(const Record& r);

// Reads the kRecordColumns of the current row.
Result<Record> ReadRecord(const Statement& row);

// The state of a tenant's KEK version, or kNotFound.
Result<KekState> ReadKekState(Connection& conn, std::string_view tenant, std::uint32_t version);

// OK when the version may wrap keys (current or active); kNotFound, kGone
// (destroyed) or kConflict (retired) otherwise.
Status CheckWrapsUnder(Connection& conn, std::string_view tenant, std::uint32_t version);

// Active records of the tenant under the version.
Result<std::uint64_t> CountActive(Connection& conn, std::string_view tenant, std::uint32_t version);

// Inserts one validated record: kConflict on a duplicate (tenant, context id),
// CheckWrapsUnder's codes for its KEK version.
Status InsertRow(Connection& conn, const Record& r);

// Shreds one active record; returns 1, or 0 when no active record matched.
Result<std::uint64_t> ShredRecord(Connection& conn, std::string_view tenant,
                                  std::string_view context_id, Instant when);

// The state of the (tenant, context id) row, or kNotFound. Used after a
// conditional UPDATE matched nothing, to tell the caller why.
Result<RecordState> ReadRecordState(Connection& conn, std::string_view tenant,
                                    std::string_view context_id);

}  // namespace kmsd::store::sqlite
