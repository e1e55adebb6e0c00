// Enumerations of the policy engine and the compiled form of one rule.
//
// detail::Rule is what ParsePolicyDocument builds and Evaluate reads; it is in a
// header only so that CompiledPolicy can hold rules by value. Nothing outside
// policy/ should touch detail::.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"

namespace date {
class time_zone;
}

namespace kmsd::policy {

enum class Operation : std::uint8_t { kEncrypt = 0, kDecrypt = 1 };
enum class Effect : std::uint8_t { kAllow, kDeny };

// The conditions of a rule, in the order Evaluate checks them (cheapest first).
enum class Condition : std::uint8_t {
  kNone,  // matched: no condition failed
  kOperations,
  kAssetTypes,
  kAssetIds,
  kPrincipals,
  kRoles,
  kCreatedBetween,
  kCreatedOlderThan,
  kCreatedNewerThan,
  kNotBefore,
  kNotAfter,
  kWithinWindows,
  kOutsideWindows,
};

// What is wrong at a path of a rejected document. Names: ProblemCodeName().
enum class ProblemCode : std::uint8_t {
  kMalformedJson,            // not JSON (or invalid UTF-8, or nested too deep)
  kDuplicateKey,             // an object names the same key twice
  kNotAnObject,              // where an object is required
  kUnknownField,             // a field the format does not define (name not echoed)
  kMissingField,             // a required field is absent
  kWrongType,                // e.g. a number where a string is required
  kEmptyList,                // a list that must have at least one element
  kTooMany,                  // a list longer than its documented bound
  kDuplicateValue,           // the same value twice in one list
  kInvalidEffect,            // not "allow" / "deny"
  kInvalidOperation,         // not "encrypt" / "decrypt"
  kInvalidRuleId,            // not [a-z0-9_.-]{1,64}, or the reserved "default"
  kDuplicateRuleId,          // a rule id used by an earlier rule
  kInvalidAssetType,         // not [a-z0-9_.-]{1,64}
  kInvalidAssetId,           // not an asset id or a prefix pattern
  kInvalidAssetIdValue,      // facts: not an asset id (no pattern there: no '*')
  kInvalidPrincipal,         // not 1-256 bytes of visible ASCII
  kInvalidRole,              // not "encrypt" / "decrypt" / "admin"
  kInvalidInstant,           // not an RFC 3339 date-time
  kEmptyInterval,            // start >= end
  kMissingBound,             // created_between with neither start nor end
  kInvalidDuration,          // not PnDTnHnMnS, zero, or over the bound
  kUnsupportedDurationUnit,  // years, months or weeks (calendar-dependent)
  kInvalidDay,               // not mon..sun
  kInvalidTimeOfDay,         // not HH:MM (24:00 allowed as an end only)
  kEmptyWindow,              // start = end
  kUnknownTimeZone,          // not in the system IANA database
  kInvalidVersion,           // `version` not a non-negative integer
};

namespace detail {

inline constexpr int kMinutesPerWeek = 7 * 24 * 60;

// The minutes of the week (Monday 00:00 local = 0) covered by the windows of
// one rule that share a time zone.
struct ZoneMask {
  const date::time_zone* zone = nullptr;  // owned by the tz database (static)
  std::bitset<kMinutesPerWeek> minutes;
};

struct Rule {
  std::string id;
  Effect effect = Effect::kDeny;
  std::uint8_t operations = 0;  // bit (1 << Operation)
  // Each list empty = no such condition. Exact lists are sorted for lookup.
  std::vector<std::string> asset_types;
  std::vector<std::string> asset_ids;          // exact
  std::vector<std::string> asset_id_prefixes;  // trailing `*` removed
  std::vector<std::string> principals;
  std::uint8_t roles = 0;  // RoleBits; 0 = no condition
  std::optional<Instant> created_start, created_end;
  std::optional<std::chrono::microseconds> created_older_than, created_newer_than;
  std::optional<Instant> not_before, not_after;
  std::vector<ZoneMask> within_windows, outside_windows;
};

}  // namespace detail
}  // namespace kmsd::policy
