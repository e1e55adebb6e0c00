// Owners of SQLite handles, for the SQLite record store only.
//
// A Connection owns one sqlite3* and the prepared statements cached on it; it
// is used by one thread at a time (the store's writer thread, or one reader
// holding a lease). A Statement is a borrowed, cached sqlite3_stmt that is
// reset and unbound when it goes out of scope, so it never holds a read
// transaction open. Bound values are copied (SQLITE_TRANSIENT).
//
// SQLite result codes never leave broker/store: StoreError() maps them onto
// ErrorCode with a message made of fixed text and sqlite3_errstr() (never
// sqlite3_errmsg(), which may quote schema or data).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace kmsd::store::sqlite {

// Busy, locked, I/O, full, can't open, read-only, corrupt, not a database,
// protocol and out of memory are kStoreUnavailable; anything else kInternal.
ErrorCode ClassifyResultCode(int rc) noexcept;
Error StoreError(int rc, std::string_view what);

// kStoreUnavailable (busy, I/O, full, ...) aborts a whole group-commit batch:
// the transaction itself may be damaged. Any other code, kInternal included
// (a statement-level constraint failure only undoes that statement), is the
// outcome of one write alone.
inline bool IsStoreFailure(const Error& e) { return e.code == ErrorCode::kStoreUnavailable; }

class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // 1-based parameter index. A bind failure is remembered and returned by Step.
  void Bind(int index, std::string_view text);
  void Bind(int index, std::int64_t value);
  void BindBlob(int index, std::span<const std::uint8_t> bytes);
  void BindNull(int index);

  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step();

  // 0-based column index, valid after Step returned SQLITE_ROW.
  bool IsNull(int column) const;
  std::int64_t Int64(int column) const;
  std::string Text(int column) const;
  std::vector<std::uint8_t> Blob(int column) const;

 private:
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

struct ConnectionOptions {
  bool create = false;     // create the file (mode 0600) when absent
  bool read_only = false;  // PRAGMA query_only: this connection never writes
  std::chrono::milliseconds busy_timeout{5000};
  // Page cache of this connection. SQLite's default (2 MiB) makes index
  // updates of a large table spill and re-read pages.
  int cache_kib = 2048;
};

class Connection {
 public:
  // Opens `path` and applies the store's PRAGMAs (WAL, synchronous=FULL,
  // secure_delete, foreign_keys, busy timeout). Fails with kStoreUnavailable
  // when the file cannot be opened or is not an SQLite database.
  static Result<std::unique_ptr<Connection>> Open(const std::filesystem::path& path,
                                                  const ConnectionOptions& options);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // A cached prepared statement for `sql` (one statement). Not re-entrant for
  // the same sql: one live Statement per sql text at a time.
  Result<Statement> Prepare(std::string_view sql);

  // Runs one or more statements without results.
  Status Exec(const char* sql, std::string_view what);
  // Runs one statement without results, prepared once and cached: for the
  // statements every batch runs (BEGIN, SAVEPOINT, RELEASE, COMMIT).
  Status ExecCached(std::string_view sql, std::string_view what);

  // kStoreUnavailable when the database path no longer names the file this
  // connection has open (renamed, deleted or replaced while open). SQLite
  // itself notices this only in rollback-journal mode; in WAL mode a commit
  // would go to the unlinked file and vanish at the next start, so the
  // writer checks before every COMMIT.
  Status CheckNotMoved();

  std::int64_t Changes() const noexcept;
  bool InTransaction() const noexcept;
  sqlite3* raw() noexcept { return db_; }

 private:
  explicit Connection(sqlite3* db) noexcept : db_(db) {}

  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StmtDeleter>> cache_;
};

}  // namespace kmsd::store::sqlite
