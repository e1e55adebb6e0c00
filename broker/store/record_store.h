// RecordStore: the broker's durable state behind one interface.
//
// Holds the wrapped data keys (one record per (tenant, context id)), the KEK
// versions of each tenant with their durable wrap counters, and each tenant's
// versioned policy documents. SQLite is the embedded implementation
// (sqlite_record_store.h); a PostgreSQL one will follow, so nothing here names
// a storage engine.
//
// Contract for every implementation:
// - Every method is thread-safe and blocking.
// - A write returns OK only after it is durable (committed and synced): a crash
//   at any later moment keeps it. A failed write changed nothing.
// - kStoreUnavailable: the store could not be reached or written (busy, I/O
//   error, disk full, unreadable file). Retryable; nothing half-written.
// - kInvalidArgument: an argument breaks the documented bounds (tenant not
//   1..256 bytes, context id outside ValidateContextId, empty wrapped key,
//   limit 0, ...). Checked before anything is written.
// - kInternal: a bug or a row that breaks the schema's invariants.
// - Tenants are fully isolated: no method of tenant B sees tenant A's rows, and
//   "not found" is the answer whether or not another tenant has the id.
// - Error messages are built from codes and fixed text, never from argument
//   bytes, so they are safe to log and to return.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store/record.h"
#include "common/result.h"
#include "common/time.h"

namespace kmsd::store {

// Largest page ListByKekVersion returns.
inline constexpr std::size_t kMaxListLimit = 10000;
// Largest block one ReserveWraps call may add (2^32, the AES-GCM random-IV bound).
inline constexpr std::uint64_t kMaxWrapReservation = std::uint64_t{1} << 32;

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // ---- records -------------------------------------------------------------

  // Stores a new active record. `record.state` must be kActive, destroyed_at
  // empty, wrapped_key non-empty, and record.kek_version a version of the
  // tenant that is current or active. Returns after the record is durable.
  // Fails: kConflict when (tenant, context_id) exists (also when the duplicate
  // is another insert of the same group commit: only the later one fails);
  // kNotFound when the KEK version is unknown to the tenant; kGone when it is
  // destroyed; kConflict when it is retired; kInvalidArgument; kStoreUnavailable.
  virtual Status Insert(const Record& record) = 0;

  // The record, active or destroyed (a destroyed one has an empty wrapped key
  // and destroyed_at set: the caller answers kGone). Fails: kNotFound (also
  // for another tenant's id); kInvalidArgument; kStoreUnavailable.
  virtual Result<Record> Find(std::string_view tenant, std::string_view context_id) = 0;

  // Crypto-shreds one record: state destroyed, destroyed_at = when, wrapped key
  // removed from the row and (best effort, see docs/store.md) from the file.
  // Fails: kNotFound; kGone when already destroyed; kStoreUnavailable.
  virtual Status MarkDestroyed(std::string_view tenant, std::string_view context_id,
                               Instant when) = 0;

  // Active records of `tenant` wrapped under `kek_version` whose context id
  // sorts (bytewise) after `after_context_id` (empty: from the start), in that
  // order, at most `limit` (1..kMaxListLimit). Keyset pagination: pass the last
  // id of a page to get the next, so a rewrap job resumes where it stopped.
  virtual Result<std::vector<Record>> ListByKekVersion(std::string_view tenant,
                                                       std::uint32_t kek_version,
                                                       std::string_view after_context_id,
                                                       std::size_t limit) = 0;

  // Compare-and-set of a rewrap: replaces the wrapped key and KEK version of an
  // active record only if it is still under `expected_old_version`.
  // Fails: kNotFound (record, or new_version unknown to the tenant); kGone when
  // the record or new_version is destroyed; kConflict when the record is no
  // longer under expected_old_version (another rewrap won) or new_version is
  // retired; kInvalidArgument; kStoreUnavailable.
  virtual Status ReplaceWrappedKey(std::string_view tenant, std::string_view context_id,
                                   std::uint32_t expected_old_version, std::uint32_t new_version,
                                   std::span<const std::uint8_t> new_wrapped) = 0;

  virtual Result<std::uint64_t> CountActiveByKekVersion(std::string_view tenant,
                                                        std::uint32_t kek_version) = 0;

  // The forced destroy of a KEK version, in ONE transaction: every active
  // record under it is shredded (as MarkDestroyed) and the version becomes
  // destroyed, so no insert can slip in between. Returns the number of records
  // shredded. Fails: kNotFound (unknown version); kGone (already destroyed);
  // kConflict when it is the tenant's current version (rotate first);
  // kStoreUnavailable.
  virtual Result<std::uint64_t> DestroyAllByKekVersion(std::string_view tenant,
                                                       std::uint32_t kek_version, Instant when) = 0;

  // Bulk preload for benchmarks and imports: validates like Insert, written in
  // large transactions by the store's writer, bypassing group commit. Each
  // chunk is atomic; on failure, earlier chunks stay committed. Fails like
  // Insert (a duplicate fails its whole chunk with kConflict).
  virtual Status BulkInsert(std::span<const Record> records) = 0;

  // ---- KEK versions --------------------------------------------------------

  // All versions of the tenant, ascending; empty when it has none.
  virtual Result<std::vector<KekVersionInfo>> ListKekVersions(std::string_view tenant) = 0;

  // Adds `version` (1..2^32-1, greater than every version the tenant has) as
  // the current version; the previous current one becomes active, in the same
  // transaction. Fails: kConflict when the version exists or is not greater
  // than the newest; kInvalidArgument; kStoreUnavailable.
  virtual Status AddKekVersion(std::string_view tenant, std::uint32_t version,
                               Instant created_at) = 0;

  // Moves a version between active and retired, or to destroyed. Same state
  // is OK (also destroyed -> destroyed). Fails: kInvalidArgument for kCurrent
  // (only AddKekVersion makes a version current); kNotFound; kGone when a
  // destroyed version would change state; kConflict when
  // the version is current, or when retiring/destroying a version that active
  // records still use (see DestroyAllByKekVersion); kStoreUnavailable.
  virtual Status SetKekState(std::string_view tenant, std::uint32_t version, KekState state) = 0;

  // Adds n (1..kMaxWrapReservation) to the version's durable wrap reservation
  // and returns the new total. Only current or active versions wrap.
  // Fails: kNotFound; kGone (destroyed); kConflict (retired); kInvalidArgument;
  // kStoreUnavailable.
  virtual Result<std::uint64_t> ReserveWraps(std::string_view tenant, std::uint32_t version,
                                             std::uint64_t n) = 0;

  // ---- policy documents ----------------------------------------------------

  // The newest policy document of the tenant, or nullopt when it has none.
  virtual Result<std::optional<PolicyDocumentRow>> GetPolicy(std::string_view tenant) = 0;

  // Stores a new version (previous + 1, starting at 1; older versions are kept
  // as history) and returns its number. The document is opaque text: the
  // caller validated it. Fails: kInvalidArgument (empty tenant or document);
  // kStoreUnavailable.
  virtual Result<std::uint64_t> PutPolicy(std::string_view tenant, std::string document_json,
                                          Instant updated_at) = 0;

  // ---- authorization-token replay ------------------------------------------

  // Records that `jti` of `tenant` was spent, until `expires_at`; true when it
  // was not recorded yet (or its record expired at or before `now`), false
  // for a replay. Durable before it returns true, so a replay is refused
  // after a restart too. A few expired records are purged on each call.
  // Fails (nothing recorded): kInvalidArgument (empty tenant, jti of 0 or
  // more than 256 bytes); kStoreUnavailable.
  virtual Result<bool> RecordJtiIfNew(std::string_view tenant, std::string_view jti,
                                      Instant expires_at, Instant now) = 0;

  // Removes a spent jti again (its request released nothing). Unknown ids are
  // no error. Fails: kInvalidArgument, kStoreUnavailable.
  virtual Status ForgetJti(std::string_view tenant, std::string_view jti) = 0;

  // ---- operations ----------------------------------------------------------

  // A real round trip to the storage (for /readyz). kStoreUnavailable when the
  // store cannot serve reads or, after a failed write, still cannot write.
  virtual Status CheckHealth() = 0;
};

}  // namespace kmsd::store
