#include "bench/load/preload.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <memory>

namespace kmsd::bench {
namespace {

// broker/store/sqlite_schema.cpp: the records table this loader writes is
// the same in schemas 1 to 3 (2 added used_jtis, 3 dropped two indexes).
constexpr int kOldestKnownSchema = 1;
constexpr int kNewestKnownSchema = 3;
constexpr std::uint64_t kBatch = 200'000;    // rows per transaction
constexpr std::size_t kWrappedKeySize = 68;  // docs/wrapped-key-format.md, v1

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

int Fail(sqlite3* db, std::string_view step) {
  fmt::print(stderr, "kmsd-bench preload: {}: {}\n", step, db ? sqlite3_errmsg(db) : "no database");
  return 1;
}

Stmt Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  return Stmt(stmt);
}

std::int64_t QueryInt(sqlite3* db, const char* sql, const std::string& tenant) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return -1;
  if (sqlite3_bind_parameter_count(stmt.get()) > 0) {
    sqlite3_bind_text(stmt.get(), 1, tenant.c_str(), -1, SQLITE_TRANSIENT);
  }
  return sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : -1;
}

}  // namespace

int RunPreload(const PreloadOptions& options) {
  sqlite3* raw = nullptr;
  const int opened =
      sqlite3_open_v2(options.database.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  Db db(raw);
  if (opened != SQLITE_OK) return Fail(db.get(), "open " + options.database.string());
  sqlite3_busy_timeout(db.get(), 5000);
  const auto schema = QueryInt(db.get(), "PRAGMA user_version", "");
  if (schema < kOldestKnownSchema || schema > kNewestKnownSchema) {
    return Fail(db.get(), "unknown schema version");
  }
  if (QueryInt(db.get(), "SELECT count(*) FROM kek_versions WHERE tenant = ?1 AND version = 1",
               options.tenant) != 1) {
    fmt::print(stderr,
               "kmsd-bench preload: tenant {} has no KEK v1: let the daemon serve it first\n",
               options.tenant);
    return 1;
  }
  const auto existing =
      QueryInt(db.get(), "SELECT count(*) FROM records WHERE tenant = ?1", options.tenant);
  if (existing < 0) return Fail(db.get(), "count records");
  // The bench owns this file and the daemon is stopped: a crash only costs a rerun.
  sqlite3_exec(db.get(), "PRAGMA synchronous=OFF", nullptr, nullptr, nullptr);
  auto insert = Prepare(db.get(),
                        "INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at,"
                        " kek_version, wrapped_key, state) VALUES (?1, ?2, 'recording', ?3, ?4, 1,"
                        " ?5, 'active')");
  if (!insert) return Fail(db.get(), "prepare");
  const auto started = std::chrono::steady_clock::now();
  // Creation times one millisecond apart, ending a day ago, before the API records.
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const auto target = static_cast<std::int64_t>(options.total_records);
  const std::int64_t first_us = now_us - 86'400'000'000LL - target * 1000;
  std::array<unsigned char, kWrappedKeySize> blob{};
  std::int64_t written = 0;
  for (std::int64_t n = existing; n < target;) {
    if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Fail(db.get(), "begin");
    }
    for (std::uint64_t i = 0; i < kBatch && n < target; ++i, ++n, ++written) {
      if (RAND_bytes(blob.data(), static_cast<int>(blob.size())) != 1) return Fail(nullptr, "rand");
      const std::string context = fmt::format("fill-{:012d}", n);
      const std::string asset = fmt::format("fill/{:012d}", n);
      sqlite3_bind_text(insert.get(), 1, options.tenant.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert.get(), 2, context.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert.get(), 3, asset.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert.get(), 4, first_us + n * 1000);
      sqlite3_bind_blob(insert.get(), 5, blob.data(), static_cast<int>(blob.size()),
                        SQLITE_TRANSIENT);
      if (sqlite3_step(insert.get()) != SQLITE_DONE) return Fail(db.get(), "insert");
      sqlite3_reset(insert.get());
    }
    if (sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Fail(db.get(), "commit");
    }
  }
  sqlite3_exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("preload records={} added={} seconds={:.1f}\n", existing + written, written, seconds);
  return 0;
}

}  // namespace kmsd::bench
