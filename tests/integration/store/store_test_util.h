// Helpers of the store tests: a temp dir per fixture, record builders, raw
// SQLite access to inspect what is really in the file.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/store/record.h"
#include "common/time.h"

namespace kmsd::store::testing {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kmsd-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A deterministic wrapped key for a context id: a test can check a row's key
// without remembering it, and a half-written row shows as a mismatch.
inline std::vector<std::uint8_t> WrappedKeyFor(std::string_view context_id, std::uint8_t salt = 0) {
  std::vector<std::uint8_t> out;
  out.reserve(context_id.size() + 12);
  for (auto it = context_id.rbegin(); it != context_id.rend(); ++it) {
    out.push_back(static_cast<std::uint8_t>(*it ^ 0x5a ^ salt));
  }
  for (std::uint8_t i = 0; i < 12; ++i) out.push_back(static_cast<std::uint8_t>(0xa0 + i + salt));
  return out;
}

inline Record MakeRecord(std::string tenant, std::string context_id, std::uint32_t kek_version = 1,
                         std::int64_t created_micros = 1774746000123456) {
  Record r;
  r.tenant = std::move(tenant);
  r.asset_type = "recording";
  r.asset_id = "asset/" + context_id;
  r.created_at = FromUnixMicros(created_micros);
  r.kek_version = kek_version;
  r.wrapped_key = WrappedKeyFor(context_id);
  r.context_id = std::move(context_id);
  return r;
}

inline std::vector<std::uint8_t> ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline bool Contains(const std::vector<std::uint8_t>& haystack,
                     const std::vector<std::uint8_t>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// A raw connection for inspecting or tampering with the file from a test.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw open failed");
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close_v2(db_); }
  sqlite3* get() const { return db_; }

  int Exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

  // The first column of the first row as text ("" when NULL or no row).
  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw prepare failed");
    }
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  // The first column of the first row as an integer (-1 when there is no row).
  std::int64_t QueryInt(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw prepare failed");
    }
    std::int64_t out = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kmsd::store::testing
