// Evaluate and Explain: the hot path. Nothing here allocates (Explain aside)
// or throws; all parsing happened in ParsePolicyDocument.

#include <date/tz.h>

#include <algorithm>
#include <limits>

#include "policy/policy.h"

namespace kmsd::policy {
namespace {

using detail::Rule;
using detail::ZoneMask;

bool Contains(const std::vector<std::string>& sorted, std::string_view value) noexcept {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), value,
                                   [](const std::string& a, std::string_view b) { return a < b; });
  return it != sorted.end() && *it == value;
}

bool AssetIdMatches(const Rule& rule, std::string_view asset_id) noexcept {
  if (Contains(rule.asset_ids, asset_id)) return true;
  // A plain byte prefix: "mtg-4" (from `mtg-4*`) matches "mtg-42/x" too;
  // write `mtg-4/*` to mean the assets under "mtg-4/".
  return std::any_of(rule.asset_id_prefixes.begin(), rule.asset_id_prefixes.end(),
                     [&](const std::string& p) { return asset_id.starts_with(p); });
}

// request_time - created_at, saturated instead of overflowing on absurd facts.
std::chrono::microseconds Age(const Facts& f) noexcept {
  std::int64_t out;
  if (__builtin_sub_overflow(f.request_time.time_since_epoch().count(),
                             f.asset_created_at.time_since_epoch().count(), &out)) {
    out = f.request_time > f.asset_created_at ? std::numeric_limits<std::int64_t>::max()
                                              : std::numeric_limits<std::int64_t>::min();
  }
  return std::chrono::microseconds(out);
}

// Minute of the local week (Monday 00:00 = 0) of an instant in a zone: the wall
// clock a person in that zone reads at that instant. In a spring-forward gap no
// instant reads the skipped minutes; in an autumn fold two instants read the
// same minute.
int MinuteOfWeek(const date::time_zone& zone, Instant t) noexcept {
  const auto local = zone.to_local(t);
  const auto local_day = date::floor<date::days>(local);
  const unsigned iso_day = date::weekday(local_day).iso_encoding();  // Monday = 1
  const auto minute = date::floor<std::chrono::minutes>(local - local_day).count();
  return static_cast<int>((iso_day - 1) * 24 * 60 + minute);
}

bool InsideAny(const std::vector<ZoneMask>& masks, Instant t) noexcept {
  return std::any_of(masks.begin(), masks.end(),
                     [&](const ZoneMask& m) { return m.minutes.test(MinuteOfWeek(*m.zone, t)); });
}

// The first condition of `rule` that does not hold for `f`, or kNone.
Condition FirstFailure(const Rule& rule, const Facts& f) noexcept {
  if ((rule.operations & (1u << static_cast<int>(f.operation))) == 0) {
    return Condition::kOperations;
  }
  if (!rule.asset_types.empty() && !Contains(rule.asset_types, f.asset_type)) {
    return Condition::kAssetTypes;
  }
  if ((!rule.asset_ids.empty() || !rule.asset_id_prefixes.empty()) &&
      !AssetIdMatches(rule, f.asset_id)) {
    return Condition::kAssetIds;
  }
  if (!rule.principals.empty() && !Contains(rule.principals, f.principal)) {
    return Condition::kPrincipals;
  }
  if (rule.roles != 0 && (rule.roles & f.roles) == 0) return Condition::kRoles;
  if ((rule.created_start && f.asset_created_at < *rule.created_start) ||
      (rule.created_end && f.asset_created_at >= *rule.created_end)) {
    return Condition::kCreatedBetween;
  }
  // Older than D holds from created_at + D on (inclusive); newer than D holds
  // before it (exclusive): for one D exactly one of the two holds.
  if (rule.created_older_than && Age(f) < *rule.created_older_than) {
    return Condition::kCreatedOlderThan;
  }
  if (rule.created_newer_than && Age(f) >= *rule.created_newer_than) {
    return Condition::kCreatedNewerThan;
  }
  if (rule.not_before && f.request_time < *rule.not_before) return Condition::kNotBefore;
  if (rule.not_after && f.request_time >= *rule.not_after) return Condition::kNotAfter;
  if (!rule.within_windows.empty() && !InsideAny(rule.within_windows, f.request_time)) {
    return Condition::kWithinWindows;
  }
  if (!rule.outside_windows.empty() && InsideAny(rule.outside_windows, f.request_time)) {
    return Condition::kOutsideWindows;
  }
  return Condition::kNone;
}

bool KnownOperation(Operation op) { return op == Operation::kEncrypt || op == Operation::kDecrypt; }

}  // namespace

Decision CompiledPolicy::Evaluate(const Facts& facts) const noexcept {
  if (!KnownOperation(facts.operation)) return {Effect::kDeny, kDefaultRuleId, version_};
  const Rule* allow = nullptr;
  for (const std::uint32_t i : by_operation_[static_cast<int>(facts.operation)]) {
    const Rule& rule = rules_[i];
    // Once an allow matched only a deny can change the outcome.
    if (rule.effect == Effect::kAllow && allow != nullptr) continue;
    if (FirstFailure(rule, facts) != Condition::kNone) continue;
    if (rule.effect == Effect::kDeny) return {Effect::kDeny, rule.id, version_};
    allow = &rule;
  }
  if (allow != nullptr) return {Effect::kAllow, allow->id, version_};
  return {default_, kDefaultRuleId, version_};
}

Explanation CompiledPolicy::Explain(const Facts& facts) const {
  Explanation out{Evaluate(facts), {}};
  out.rules.reserve(rules_.size());
  for (const Rule& rule : rules_) {
    const Condition failed =
        KnownOperation(facts.operation) ? FirstFailure(rule, facts) : Condition::kOperations;
    out.rules.push_back({rule.id, rule.effect, failed == Condition::kNone, failed});
  }
  return out;
}

}  // namespace kmsd::policy
