// SqliteRecordStore: the embedded RecordStore, one SQLite file in WAL mode.
//
// Durability: synchronous=FULL, so every commit fsyncs the WAL before a write
// returns OK. Writes go through a single writer thread that commits whatever
// is waiting as one transaction (group commit, see sqlite_writer.h); reads use
// a small pool of separate read-only connections, which WAL lets run next to
// the writer. secure_delete=ON zeroes the bytes of shredded wrapped keys in
// the file. The schema is created and migrated on Open (sqlite_schema.h).
//
// Several processes may open the same file (SQLite locks it), but group commit
// only batches writes of one process. See docs/store.md for schema, backup and
// the limits of shredding.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>

#include "broker/store/record_store.h"
#include "broker/store/write_stats.h"

namespace kmsd::store {

namespace sqlite {
class GroupCommitWriter;
class ReadPool;
}  // namespace sqlite

struct SqliteStoreOptions {
  std::filesystem::path path;  // the database file; its directory must exist
  std::size_t read_connections = 4;
  // How long a write or read waits for a lock held by another connection
  // (a backup, another process) before failing with kStoreUnavailable.
  std::chrono::milliseconds busy_timeout{5000};
  int writer_cache_kib = 64 * 1024;     // page cache of the write connection
  int reader_cache_kib = 8 * 1024;      // page cache of each read connection
  std::size_t max_batch = 1024;         // most writes in one group commit
  std::size_t bulk_chunk_rows = 50000;  // rows per BulkInsert transaction
};

class SqliteRecordStore final : public RecordStore {
 public:
  // Opens or creates the file (mode 0600), applies the PRAGMAs, migrates the
  // schema and starts the writer thread. Fails: kStoreUnavailable when the
  // file cannot be opened, locked or is not a database; kInternal when its
  // schema is newer than this build.
  static Result<std::unique_ptr<SqliteRecordStore>> Open(const SqliteStoreOptions& options);

  // Finishes every queued write, then closes all connections.
  ~SqliteRecordStore() override;
  SqliteRecordStore(const SqliteRecordStore&) = delete;
  SqliteRecordStore& operator=(const SqliteRecordStore&) = delete;

  Status Insert(const Record& record) override;
  Result<Record> Find(std::string_view tenant, std::string_view context_id) override;
  Status MarkDestroyed(std::string_view tenant, std::string_view context_id, Instant when) override;
  Result<std::vector<Record>> ListByKekVersion(std::string_view tenant, std::uint32_t kek_version,
                                               std::string_view after_context_id,
                                               std::size_t limit) override;
  Status ReplaceWrappedKey(std::string_view tenant, std::string_view context_id,
                           std::uint32_t expected_old_version, std::uint32_t new_version,
                           std::span<const std::uint8_t> new_wrapped) override;
  Result<std::uint64_t> CountActiveByKekVersion(std::string_view tenant,
                                                std::uint32_t kek_version) override;
  Result<std::uint64_t> DestroyAllByKekVersion(std::string_view tenant, std::uint32_t kek_version,
                                               Instant when) override;
  Status BulkInsert(std::span<const Record> records) override;

  Result<std::vector<KekVersionInfo>> ListKekVersions(std::string_view tenant) override;
  Status AddKekVersion(std::string_view tenant, std::uint32_t version, Instant created_at) override;
  Status SetKekState(std::string_view tenant, std::uint32_t version, KekState state) override;
  Result<std::uint64_t> ReserveWraps(std::string_view tenant, std::uint32_t version,
                                     std::uint64_t n) override;

  Result<std::optional<PolicyDocumentRow>> GetPolicy(std::string_view tenant) override;
  Result<bool> RecordJtiIfNew(std::string_view tenant, std::string_view jti, Instant expires_at,
                              Instant now) override;
  Status ForgetJti(std::string_view tenant, std::string_view jti) override;
  Result<std::uint64_t> PutPolicy(std::string_view tenant, std::string document_json,
                                  Instant updated_at) override;

  Status CheckHealth() override;

  // Group-commit counters since Open.
  WriterStats write_stats() const;

 private:
  SqliteRecordStore(SqliteStoreOptions options, std::unique_ptr<sqlite::GroupCommitWriter> writer,
                    std::unique_ptr<sqlite::ReadPool> readers);

  SqliteStoreOptions options_;
  std::unique_ptr<sqlite::GroupCommitWriter> writer_;
  std::unique_ptr<sqlite::ReadPool> readers_;
};

}  // namespace kmsd::store
