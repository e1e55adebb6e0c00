#include "broker/store/sqlite_connection.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace kmsd::store::sqlite {

ErrorCode ClassifyResultCode(int rc) noexcept {
  switch (rc & 0xff) {  // the primary code of an extended result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_PERM: return ErrorCode::kStoreUnavailable;
    default: return ErrorCode::kInternal;
  }
}

Error StoreError(int rc, std::string_view what) {
  std::string message = "store: ";
  message.append(what);
  message.append(" failed: ");
  message.append(sqlite3_errstr(rc));
  return MakeError(ClassifyResultCode(rc), std::move(message));
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::Bind(int index, std::string_view text) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::Bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindBlob(int index, std::span<const std::uint8_t> bytes) {
  // A zero-length blob binds as an empty blob, not NULL (sqlite3_bind_blob64
  // with a null pointer would bind NULL).
  static constexpr std::uint8_t kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  const int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

int Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return bind_rc_;
  return sqlite3_step(stmt_);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
}

std::vector<std::uint8_t> Statement::Blob(int column) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::vector<std::uint8_t>() : std::vector<std::uint8_t>(p, p + n);
}

namespace {

// SQLite creates the database with the process umask (often 0644). The
// records name tenants and assets, so the file is created owner-only first;
// SQLite gives the -wal and -shm files the mode of the database file.
Status CreateOwnerOnly(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(ErrorCode::kStoreUnavailable, "store: cannot create the database file");
  }
  ::close(fd);
  return {};
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Open(const std::filesystem::path& path,
                                                     const ConnectionOptions& options) {
  if (options.create) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      if (auto created = CreateOwnerOnly(path); !created) return created.error();
    }
  }
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is only ever used by one thread at a time.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<Connection> conn(new Connection(db));  // closes db even on failure
  if (rc != SQLITE_OK) return StoreError(rc, "open");
  sqlite3_extended_result_codes(db, 1);
  const auto timeout_ms = options.busy_timeout.count();
  sqlite3_busy_timeout(db, static_cast<int>(timeout_ms > 0 ? timeout_ms : 0));

  // journal_mode=WAL is persistent in the file; asking again is cheap and
  // tells whether it took (it cannot on some file systems).
  {
    auto stmt = conn->Prepare("PRAGMA journal_mode=WAL");
    if (!stmt) return stmt.error();
    const int step = stmt->Step();
    if (step != SQLITE_ROW) return StoreError(step, "enable WAL");
    if (stmt->Text(0) != "wal") {
      return MakeError(ErrorCode::kStoreUnavailable, "store: WAL journal mode unavailable");
    }
  }
  // synchronous=FULL: in WAL mode each commit fsyncs the WAL, so a committed
  // record survives power loss, not only a process crash.
  if (auto s = conn->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                          " PRAGMA secure_delete=ON;",
                          "configure");
      !s) {
    return s.error();
  }
  const std::string cache = "PRAGMA cache_size=-" + std::to_string(options.cache_kib);
  if (auto s = conn->Exec(cache.c_str(), "configure"); !s) return s.error();
  if (options.read_only) {
    if (auto s = conn->Exec("PRAGMA query_only=ON;", "configure"); !s) return s.error();
  }
  return conn;
}

Connection::~Connection() {
  cache_.clear();  // statements must be finalized before the close
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return StoreError(rc, "prepare");
    }
    it = cache_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, StmtDeleter>(raw)).first;
  }
  return Statement(it->second.get());
}

Status Connection::Exec(const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return StoreError(rc, what);
  return {};
}

Status Connection::ExecCached(std::string_view sql, std::string_view what) {
  auto stmt = Prepare(sql);
  if (!stmt) return stmt.error();
  const int rc = stmt->Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return StoreError(rc, what);
  return {};
}

Status Connection::CheckNotMoved() {
  int moved = 0;
  const int rc = sqlite3_file_control(db_, "main", SQLITE_FCNTL_HAS_MOVED, &moved);
  if (rc != SQLITE_OK) return StoreError(rc, "check database file");
  if (moved != 0) {
    return MakeError(ErrorCode::kStoreUnavailable,
                     "store: the database file was moved or replaced while open");
  }
  return {};
}

std::int64_t Connection::Changes() const noexcept { return sqlite3_changes64(db_); }

bool Connection::InTransaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace kmsd::store::sqlite
