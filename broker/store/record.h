// Values kept by the record store. Plain data, no storage types.
//
// A wrapped key is ciphertext (the data key wrapped under a KEK inside the
// token, AAD bound to the record's columns), so it is an ordinary byte vector
// here; plaintext keys never reach the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace kmsd::store {

enum class RecordState { kActive, kDestroyed };

struct Record {
  std::string tenant;
  std::string context_id;
  std::string asset_type;
  std::string asset_id;
  Instant created_at{};
  std::uint32_t kek_version = 0;
  std::vector<std::uint8_t> wrapped_key;  // empty once destroyed
  RecordState state = RecordState::kActive;
  std::optional<Instant> destroyed_at;

  friend bool operator==(const Record&, const Record&) = default;
};

// Life of a KEK version within a tenant:
//   current   - wraps new records (exactly one per tenant once any exists)
//   active    - an older version whose records still decrypt
//   retired   - no records are expected under it (after rewrap); still in the token
//   destroyed - its records are shredded; terminal
enum class KekState { kCurrent, kActive, kRetired, kDestroyed };

struct KekVersionInfo {
  std::uint32_t version = 0;
  KekState state = KekState::kActive;
  Instant created_at{};
  // Durable upper bound of AES-GCM wraps done under this version (reserved in
  // blocks by the broker, so a crash over-counts, never under-counts).
  std::uint64_t wraps_reserved = 0;

  friend bool operator==(const KekVersionInfo&, const KekVersionInfo&) = default;
};

struct PolicyDocumentRow {
  std::uint64_t version = 0;  // monotonic per tenant, from 1
  std::string document_json;  // opaque to the store
  Instant updated_at{};

  friend bool operator==(const PolicyDocumentRow&, const PolicyDocumentRow&) = default;
};

// Stable lowercase names, as stored and shown ("active", "destroyed", "current", ...).
std::string_view RecordStateName(RecordState state) noexcept;
std::string_view KekStateName(KekState state) noexcept;
std::optional<RecordState> ParseRecordState(std::string_view name) noexcept;
std::optional<KekState> ParseKekState(std::string_view name) noexcept;

}  // namespace kmsd::store
