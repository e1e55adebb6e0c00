#include "bench/load/preload.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <unordered_set>
#include <vector>

#include "broker/binding.h"
#include "common/file_lock.h"
#include "hsm/dev_token.h"
#include "hsm/pkcs11_key_service.h"

namespace kmsd::bench {
namespace {

// broker/store/sqlite_schema.cpp: the records table this loader writes is
// the same in schemas 1 to 3 (2 added used_jtis, 3 dropped two indexes).
constexpr int kOldestKnownSchema = 1;
constexpr int kNewestKnownSchema = 3;
constexpr std::int64_t kBatch = 100'000;  // rows per transaction
constexpr std::string_view kAssetType = "recording";
constexpr std::uint32_t kKekVersion = 1;

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

int CannotWrite(const std::filesystem::path& file) {
  fmt::print(stderr, "kmsd-bench preload: cannot write {}\n", file.string());
  return 1;
}

int FailWith(std::string_view step, const Error& error) {
  fmt::print(stderr, "kmsd-bench preload: {}: {} ({})\n", step, error.message,
             ErrorCodeName(error.code));
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

struct FillerRow {
  std::string context_id;
  std::string asset_id;
  std::int64_t created_us = 0;
  std::vector<std::uint8_t> wrapped;
};

FillerRow MakeRow(std::int64_t n, std::int64_t first_us) {
  return {fmt::format("fill-{:012d}", n), fmt::format("fill/{:012d}", n), first_us + n * 1000, {}};
}

// Wraps a fresh data key for every row. One thread: SoftHSM2's locks make
// two threads wrap at half the rate of one (perf: futex wake-ups and waits).
Status WrapAll(hsm::KeyService& keys, const std::string& tenant, std::vector<FillerRow>& rows) {
  const hsm::KekId kek{tenant, kKekVersion};
  for (auto& row : rows) {
    const auto aad = broker::EncodeBindingAad({tenant, row.context_id, kAssetType, row.asset_id,
                                               FromUnixMicros(row.created_us), kKekVersion});
    auto key = keys.GenerateDataKey(kek, aad);
    if (!key) return key.error();
    row.wrapped = std::move(key->wrapped);  // the plaintext Secret wipes itself here
  }
  return {};
}

// Up to `size` distinct active context ids of the tenant, drawn uniformly by
// row id; every one of them when the tenant holds no more.
std::vector<std::string> SampleContexts(sqlite3* db, const std::string& tenant,
                                        std::int64_t records, std::uint64_t size) {
  std::vector<std::string> sample;
  const bool all = static_cast<std::uint64_t>(records) <= size;
  auto stmt = Prepare(db, all ? "SELECT context_id FROM records WHERE tenant = ?1 AND "
                                "state = 'active'"
                              : "SELECT context_id FROM records WHERE tenant = ?1 AND "
                                "state = 'active' AND id = ?2");
  if (!stmt) return sample;
  sqlite3_bind_text(stmt.get(), 1, tenant.c_str(), -1, SQLITE_TRANSIENT);
  if (all) {
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      sample.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0)));
    }
    return sample;
  }
  const std::int64_t max_id = QueryInt(db, "SELECT max(id) FROM records", tenant);
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> pick(1, std::max<std::int64_t>(1, max_id));
  std::unordered_set<std::int64_t> seen;
  // Other tenants' rows and destroyed records are skipped; the bound keeps
  // a store of mostly other rows from looping for ever.
  for (std::uint64_t tries = 0; sample.size() < size && tries < 20 * size; ++tries) {
    const std::int64_t id = pick(random);
    if (!seen.insert(id).second) continue;
    sqlite3_bind_int64(stmt.get(), 2, id);
    if (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      sample.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0)));
    }
    sqlite3_reset(stmt.get());
  }
  return sample;
}

}  // namespace

int RunPreload(const PreloadOptions& options) {
  const auto database = options.dev_dir / "kmsd.db";
  // The daemon holds this lock while it runs (daemon/app.cpp): filling a live
  // store would race its writers and share its token.
  auto store_lock = FileLock::Acquire(database.string() + ".lock", ErrorCode::kStoreUnavailable);
  if (!store_lock) {
    if (store_lock.error().code == ErrorCode::kConflict) {
      fmt::print(stderr, "kmsd-bench preload: a kmsd holds {}.lock: stop the daemon first\n",
                 database.string());
      return 1;
    }
    return FailWith("store lock", store_lock.error());
  }
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(database.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  Db db(raw);
  if (opened != SQLITE_OK) return Fail(db.get(), "open " + database.string());
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
  // Opened before the fill (after the checks above, which leave it as it
  // was), so a path that cannot be written fails in seconds, not minutes.
  std::ofstream sample_file;
  if (!options.sample_out.empty()) {
    sample_file.open(options.sample_out, std::ios::trunc);
    if (!sample_file) return CannotWrite(options.sample_out);
  }

  // The daemon is stopped, so its token is free for this process.
  auto token = hsm::EnsureDevToken(options.dev_dir);
  if (!token) return FailWith("token", token.error());
  hsm::TokenConfig config = token->config;
  config.pool_size = 1;
  auto keys = hsm::OpenPkcs11KeyService(config);
  if (!keys) return FailWith("open token", keys.error());

  // The bench owns this file and the daemon is stopped: a crash only costs a rerun.
  sqlite3_exec(db.get(), "PRAGMA synchronous=OFF", nullptr, nullptr, nullptr);
  auto insert = Prepare(db.get(),
                        "INSERT INTO records (tenant, context_id, asset_type, asset_id, created_at,"
                        " kek_version, wrapped_key, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                        " ?7, 'active')");
  if (!insert) return Fail(db.get(), "prepare");
  const auto started = std::chrono::steady_clock::now();
  // Creation times one millisecond apart, ending a day ago, before the API records.
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const auto target = static_cast<std::int64_t>(options.total_records);
  const std::int64_t first_us = now_us - 86'400'000'000LL - target * 1000;
  std::int64_t written = 0;
  for (std::int64_t n = existing; n < target;) {
    std::vector<FillerRow> rows;
    for (; n < target && static_cast<std::int64_t>(rows.size()) < kBatch; ++n) {
      rows.push_back(MakeRow(n, first_us));
    }
    if (auto wrapped = WrapAll(**keys, options.tenant, rows); !wrapped) {
      return FailWith("wrap", wrapped.error());
    }
    if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Fail(db.get(), "begin");
    }
    for (const auto& row : rows) {
      sqlite3_bind_text(insert.get(), 1, options.tenant.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert.get(), 2, row.context_id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert.get(), 3, kAssetType.data(), static_cast<int>(kAssetType.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert.get(), 4, row.asset_id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert.get(), 5, row.created_us);
      sqlite3_bind_int64(insert.get(), 6, kKekVersion);
      sqlite3_bind_blob(insert.get(), 7, row.wrapped.data(), static_cast<int>(row.wrapped.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert.get()) != SQLITE_DONE) return Fail(db.get(), "insert");
      sqlite3_reset(insert.get());
      ++written;
    }
    if (sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Fail(db.get(), "commit");
    }
  }
  sqlite3_exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::size_t sampled = 0;
  if (!options.sample_out.empty()) {
    const auto sample =
        SampleContexts(db.get(), options.tenant, existing + written, options.sample_size);
    if (sample.empty()) return Fail(db.get(), "sample: no active records");
    for (const auto& context : sample) sample_file << context << '\n';
    if (!sample_file.flush()) return CannotWrite(options.sample_out);
    sampled = sample.size();
  }
  fmt::print("preload records={} added={} seconds={:.1f} sampled={}\n", existing + written, written,
             seconds, sampled);
  return 0;
}

}  // namespace kmsd::bench
