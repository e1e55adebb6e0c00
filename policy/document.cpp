// ParsePolicyDocument: validation that collects every problem, then compilation.
//
// The validator walks the whole document even after a problem so that one 400
// lists everything wrong. Paths are built from known field names and indices
// only: no document byte reaches a Problem.

#include <date/tz.h>

#include <algorithm>
#include <boost/json.hpp>
#include <initializer_list>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "common/json/strict_json.h"
#include "policy/duplicate_keys.h"
#include "policy/policy.h"
#include "policy/syntax.h"

namespace kmsd::policy {
namespace {

namespace bj = boost::json;
using detail::Rule;
using detail::ZoneMask;

inline constexpr std::size_t kMaxRules = 1000;
inline constexpr std::size_t kMaxListItems = 1000;

std::string Field(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}
std::string Index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// A zone name as the IANA database writes them; checked before the lookup so
// that nothing odd (paths, "..") reaches the tz library.
bool LooksLikeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return false;
  // Files of the OS database that name no IANA zone but follow the host's
  // settings (/etc/localtime): a policy must mean the same on every host.
  if (name == "localtime" || name == "posixrules") return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

const date::time_zone* FindZone(std::string_view name) {
  if (!LooksLikeZoneName(name)) return nullptr;
  try {
    const date::time_zone* zone = date::locate_zone(name);
    // The OS database loads a zone's transitions on first use; do it now so
    // that Evaluate() never reads a file or allocates.
    (void)zone->get_info(std::chrono::sys_seconds{});
    return zone;
  } catch (const std::exception&) {  // unknown name, or no tz database at all
    return nullptr;
  }
}

class Validator {
 public:
  std::vector<Problem> problems;

  void Add(std::string path, ProblemCode code) { problems.push_back({std::move(path), code}); }

  const bj::object* Object(const bj::value& v, const std::string& path) {
    if (!v.is_object()) {
      Add(path, ProblemCode::kNotAnObject);
      return nullptr;
    }
    return &v.get_object();
  }

  // Reports each member not in `known` (its name is not echoed).
  void OnlyFields(const bj::object& o, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    for (const auto& member : o) {
      const std::string_view key(member.key().data(), member.key().size());
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        Add(path, ProblemCode::kUnknownField);
      }
    }
  }

  const bj::value* Required(const bj::object& o, const std::string& path, std::string_view name) {
    const bj::value* v = o.if_contains(name);
    if (v == nullptr) Add(Field(path, name), ProblemCode::kMissingField);
    return v;
  }

  std::optional<std::string_view> String(const bj::value& v, const std::string& path) {
    if (!v.is_string()) {
      Add(path, ProblemCode::kWrongType);
      return std::nullopt;
    }
    return std::string_view(v.get_string().data(), v.get_string().size());
  }

  // A non-empty array of strings without duplicates; elements that are not
  // strings are reported and left out.
  std::vector<std::string_view> StringList(const bj::value& v, const std::string& path) {
    std::vector<std::string_view> out;
    if (!v.is_array()) {
      Add(path, ProblemCode::kWrongType);
      return out;
    }
    const bj::array& a = v.get_array();
    if (a.empty()) Add(path, ProblemCode::kEmptyList);
    if (a.size() > kMaxListItems) {
      Add(path, ProblemCode::kTooMany);
      return out;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto s = String(a[i], Index(path, i));
      if (!s) continue;
      if (std::find(out.begin(), out.end(), *s) != out.end()) {
        Add(Index(path, i), ProblemCode::kDuplicateValue);
      }
      out.push_back(*s);
    }
    return out;
  }

  // Validates each element with `ok`; returns the ones that pass.
  template <class Pred>
  std::vector<std::string_view> NameList(const bj::value& v, const std::string& path,
                                         ProblemCode bad, Pred ok) {
    std::vector<std::string_view> names = StringList(v, path);
    std::vector<std::string_view> good;
    // Indices in `names` no longer match the array when a non-string was
    // skipped; re-walk the array to report each bad element at its index.
    if (v.is_array()) {
      const bj::array& a = v.get_array();
      for (std::size_t i = 0; i < a.size() && a.size() <= kMaxListItems; ++i) {
        if (!a[i].is_string()) continue;
        const std::string_view s(a[i].get_string().data(), a[i].get_string().size());
        if (ok(s)) {
          good.push_back(s);
        } else {
          Add(Index(path, i), bad);
        }
      }
    }
    return good;
  }

  std::optional<Instant> InstantAt(const bj::value& v, const std::string& path) {
    auto s = String(v, path);
    if (!s) return std::nullopt;
    auto parsed = ParseRfc3339(*s);
    if (!parsed) {
      Add(path, ProblemCode::kInvalidInstant);
      return std::nullopt;
    }
    return *parsed;
  }

  std::optional<std::chrono::microseconds> DurationAt(const bj::value& v, const std::string& path) {
    auto s = String(v, path);
    if (!s) return std::nullopt;
    auto parsed = detail::ParseDuration(*s);
    if (!parsed) {
      Add(path, parsed.error());
      return std::nullopt;
    }
    return *parsed;
  }

  std::optional<Effect> EffectAt(const bj::value& v, const std::string& path) {
    auto s = String(v, path);
    if (!s) return std::nullopt;
    if (*s == "allow") return Effect::kAllow;
    if (*s == "deny") return Effect::kDeny;
    Add(path, ProblemCode::kInvalidEffect);
    return std::nullopt;
  }

  std::vector<ZoneMask> Windows(const bj::value& v, const std::string& path, bj::array& canon);
  std::optional<Rule> RuleAt(const bj::value& v, const std::string& path, bj::object& canon);
};

// Sets the minutes of the week a window covers in `mask`. A window whose end is
// before its start crosses midnight and belongs to its start day; Sunday's
// crossing part lands on Monday morning.
void MarkWindow(std::bitset<detail::kMinutesPerWeek>& mask, const std::vector<int>& days, int start,
                int end) {
  const int length = end > start ? end - start : end + 24 * 60 - start;
  for (const int day : days) {
    for (int m = 0; m < length; ++m) {
      mask.set((day * 24 * 60 + start + m) % detail::kMinutesPerWeek);
    }
  }
}

std::vector<ZoneMask> Validator::Windows(const bj::value& v, const std::string& path,
                                         bj::array& canon) {
  std::vector<ZoneMask> masks;
  if (!v.is_array()) {
    Add(path, ProblemCode::kWrongType);
    return masks;
  }
  const bj::array& a = v.get_array();
  if (a.empty()) Add(path, ProblemCode::kEmptyList);
  if (a.size() > kMaxListItems) {
    Add(path, ProblemCode::kTooMany);
    return masks;
  }
  // The windows seen so far, days sorted: a repeat is a duplicate value,
  // however its days are ordered.
  std::vector<std::tuple<std::vector<int>, int, int, const date::time_zone*>> seen;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string wpath = Index(path, i);
    const bj::object* w = Object(a[i], wpath);
    if (w == nullptr) continue;
    OnlyFields(*w, wpath, {"days", "start", "end", "time_zone"});
    std::vector<int> days;
    std::optional<int> start, end;
    const date::time_zone* zone = nullptr;
    if (const bj::value* d = Required(*w, wpath, "days")) {
      const std::string dpath = Field(wpath, "days");
      for (const std::string_view name : NameList(*d, dpath, ProblemCode::kInvalidDay,
                                                  [](auto s) { return !!detail::ParseDay(s); })) {
        days.push_back(*detail::ParseDay(name));
      }
    }
    for (const auto& [name, out, allow_24] :
         {std::tuple{"start", &start, false}, std::tuple{"end", &end, true}}) {
      if (const bj::value* t = Required(*w, wpath, name)) {
        if (auto s = String(*t, Field(wpath, name))) {
          auto minutes = detail::ParseTimeOfDay(*s, allow_24);
          if (minutes) {
            *out = *minutes;
          } else {
            Add(Field(wpath, name), minutes.error());
          }
        }
      }
    }
    if (start && end && *start == *end) {
      Add(Field(wpath, "end"), ProblemCode::kEmptyWindow);
      start.reset();
    }
    if (const bj::value* z = Required(*w, wpath, "time_zone")) {
      if (auto s = String(*z, Field(wpath, "time_zone"))) {
        zone = FindZone(*s);
        if (zone == nullptr) Add(Field(wpath, "time_zone"), ProblemCode::kUnknownTimeZone);
      }
    }
    if (days.empty() || !start || !end || zone == nullptr) continue;
    std::vector<int> sorted_days = days;
    std::sort(sorted_days.begin(), sorted_days.end());
    auto key = std::make_tuple(std::move(sorted_days), *start, *end, zone);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      Add(wpath, ProblemCode::kDuplicateValue);
      continue;
    }
    seen.push_back(std::move(key));
    auto it = std::find_if(masks.begin(), masks.end(), [&](auto& m) { return m.zone == zone; });
    if (it == masks.end()) it = masks.insert(masks.end(), ZoneMask{zone, {}});
    MarkWindow(it->minutes, days, *start, *end);
    canon.push_back(bj::object{{"days", w->at("days")},
                               {"start", w->at("start")},
                               {"end", w->at("end")},
                               {"time_zone", w->at("time_zone")}});
  }
  return masks;
}

std::optional<Rule> Validator::RuleAt(const bj::value& v, const std::string& path,
                                      bj::object& canon) {
  const std::size_t problems_before = problems.size();
  const bj::object* o = Object(v, path);
  if (o == nullptr) return std::nullopt;
  OnlyFields(*o, path,
             {"id", "effect", "operations", "asset_types", "asset_ids", "created_between",
              "created_older_than", "created_newer_than", "not_before", "not_after",
              "within_windows", "outside_windows", "principals", "roles"});
  Rule rule;
  auto has = [&](std::string_view name) { return o->if_contains(name); };
  auto copy = [&](std::string_view name) { canon[name] = o->at(name); };

  if (const bj::value* id = Required(*o, path, "id")) {
    if (auto s = String(*id, Field(path, "id"))) {
      if (!detail::IsCanonicalName(*s) || *s == kDefaultRuleId) {
        Add(Field(path, "id"), ProblemCode::kInvalidRuleId);
      } else {
        rule.id = std::string(*s);
        copy("id");
      }
    }
  }
  if (const bj::value* e = Required(*o, path, "effect")) {
    if (auto effect = EffectAt(*e, Field(path, "effect"))) {
      rule.effect = *effect;
      copy("effect");
    }
  }
  if (const bj::value* ops = Required(*o, path, "operations")) {
    auto is_op = [](std::string_view s) { return s == "encrypt" || s == "decrypt"; };
    for (auto s :
         NameList(*ops, Field(path, "operations"), ProblemCode::kInvalidOperation, is_op)) {
      rule.operations |=
          1u << static_cast<int>(s == "encrypt" ? Operation::kEncrypt : Operation::kDecrypt);
    }
    copy("operations");
  }
  auto sorted = [](std::vector<std::string_view> in) {
    std::vector<std::string> out(in.begin(), in.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  if (has("asset_types")) {
    rule.asset_types = sorted(NameList(o->at("asset_types"), Field(path, "asset_types"),
                                       ProblemCode::kInvalidAssetType, detail::IsCanonicalName));
    copy("asset_types");
  }
  if (has("asset_ids")) {
    std::vector<std::string_view> exact;
    for (auto s : NameList(o->at("asset_ids"), Field(path, "asset_ids"),
                           ProblemCode::kInvalidAssetId, detail::IsValidAssetIdPattern)) {
      if (s.back() == '*') {
        rule.asset_id_prefixes.emplace_back(s.substr(0, s.size() - 1));
      } else {
        exact.push_back(s);
      }
    }
    rule.asset_ids = sorted(exact);
    copy("asset_ids");
  }
  if (has("principals")) {
    rule.principals = sorted(NameList(o->at("principals"), Field(path, "principals"),
                                      ProblemCode::kInvalidPrincipal, detail::IsValidPrincipal));
    copy("principals");
  }
  if (has("roles")) {
    auto is_role = [](std::string_view s) {
      return s == "encrypt" || s == "decrypt" || s == "admin";
    };
    for (auto s :
         NameList(o->at("roles"), Field(path, "roles"), ProblemCode::kInvalidRole, is_role)) {
      rule.roles |= s == "encrypt" ? kRoleEncrypt : s == "decrypt" ? kRoleDecrypt : kRoleAdmin;
    }
    copy("roles");
  }
  if (has("created_between")) {
    const std::string cpath = Field(path, "created_between");
    if (const bj::object* c = Object(o->at("created_between"), cpath)) {
      OnlyFields(*c, cpath, {"start", "end"});
      bj::object out;
      if (c->if_contains("start")) {
        rule.created_start = InstantAt(c->at("start"), Field(cpath, "start"));
        if (rule.created_start) out["start"] = FormatRfc3339(*rule.created_start);
      }
      if (c->if_contains("end")) {
        rule.created_end = InstantAt(c->at("end"), Field(cpath, "end"));
        if (rule.created_end) out["end"] = FormatRfc3339(*rule.created_end);
      }
      if (!c->if_contains("start") && !c->if_contains("end")) {
        Add(cpath, ProblemCode::kMissingBound);
      }
      if (rule.created_start && rule.created_end && *rule.created_start >= *rule.created_end) {
        Add(cpath, ProblemCode::kEmptyInterval);
      }
      canon["created_between"] = std::move(out);
    }
  }
  for (const auto& [name, out] : {std::pair{"created_older_than", &rule.created_older_than},
                                  std::pair{"created_newer_than", &rule.created_newer_than}}) {
    if (has(name)) {
      *out = DurationAt(o->at(name), Field(path, name));
      copy(name);
    }
  }
  if (rule.created_older_than && rule.created_newer_than &&
      *rule.created_older_than >= *rule.created_newer_than) {
    Add(Field(path, "created_newer_than"), ProblemCode::kEmptyInterval);
  }
  for (const auto& [name, out] :
       {std::pair{"not_before", &rule.not_before}, std::pair{"not_after", &rule.not_after}}) {
    if (has(name)) {
      *out = InstantAt(o->at(name), Field(path, name));
      if (*out) canon[name] = FormatRfc3339(**out);
    }
  }
  if (rule.not_before && rule.not_after && *rule.not_before >= *rule.not_after) {
    Add(Field(path, "not_after"), ProblemCode::kEmptyInterval);
  }
  for (const auto& [name, out] : {std::pair{"within_windows", &rule.within_windows},
                                  std::pair{"outside_windows", &rule.outside_windows}}) {
    if (has(name)) {
      bj::array windows;
      *out = Windows(o->at(name), Field(path, name), windows);
      canon[name] = std::move(windows);
    }
  }
  if (problems.size() != problems_before) return std::nullopt;
  return rule;
}

}  // namespace

PolicyResult ParsePolicyDocument(std::string_view json_text) {
  auto document = json::ParseStrictJson(json_text);
  if (document) return ParsePolicyValue(*document);
  PolicyError error{MakeError(ErrorCode::kInvalidArgument, "invalid policy document"), {}};
  bool malformed = false;
  for (std::string& path : detail::FindDuplicateKeys(json_text, &malformed)) {
    error.problems.push_back({std::move(path), ProblemCode::kDuplicateKey});
  }
  if (malformed || error.problems.empty()) {
    error.problems.push_back({"", ProblemCode::kMalformedJson});
  }
  return error;
}

PolicyResult ParsePolicyValue(const bj::value& document) {
  Validator v;
  CompiledPolicy policy;
  bj::object canon;
  if (const bj::object* root = v.Object(document, "")) {
    v.OnlyFields(*root, "", {"version", "updated_at", "default", "rules"});
    if (const bj::value* version = root->if_contains("version")) {
      if (version->is_uint64()) {
        policy.submitted_version_ = version->get_uint64();
      } else if (version->is_int64() && version->get_int64() >= 0) {
        policy.submitted_version_ = static_cast<std::uint64_t>(version->get_int64());
      } else {
        v.Add("version", ProblemCode::kInvalidVersion);
      }
    }
    if (const bj::value* updated = root->if_contains("updated_at")) {
      v.InstantAt(*updated, "updated_at");
    }
    if (const bj::value* d = v.Required(*root, "", "default")) {
      if (auto effect = v.EffectAt(*d, "default")) policy.default_ = *effect;
      canon["default"] = *d;
    }
    bj::array rules;
    if (const bj::value* r = v.Required(*root, "", "rules")) {
      if (!r->is_array()) {
        v.Add("rules", ProblemCode::kWrongType);
      } else if (r->get_array().size() > kMaxRules) {
        v.Add("rules", ProblemCode::kTooMany);
      } else {
        const bj::array& a = r->get_array();
        // Ids are compared whatever else is wrong with a rule, so that a
        // duplicate is listed beside the rule's other problems.
        std::set<std::string, std::less<>> seen_ids;
        for (std::size_t i = 0; i < a.size(); ++i) {
          const std::string path = Index("rules", i);
          if (const bj::object* o = a[i].if_object()) {
            const bj::value* id = o->if_contains("id");
            if (id != nullptr && id->is_string() &&
                !seen_ids.emplace(id->get_string().data(), id->get_string().size()).second) {
              v.Add(Field(path, "id"), ProblemCode::kDuplicateRuleId);
            }
          }
          bj::object out;
          auto rule = v.RuleAt(a[i], path, out);
          if (!rule) continue;
          rules.push_back(std::move(out));
          policy.rules_.push_back(std::move(*rule));
        }
      }
    }
    canon["rules"] = std::move(rules);
  }
  if (!v.problems.empty()) {
    return PolicyError{MakeError(ErrorCode::kInvalidArgument, "invalid policy document"),
                       std::move(v.problems)};
  }
  for (std::uint32_t i = 0; i < policy.rules_.size(); ++i) {
    for (const Operation op : {Operation::kEncrypt, Operation::kDecrypt}) {
      if (policy.rules_[i].operations & (1u << static_cast<int>(op))) {
        policy.by_operation_[static_cast<int>(op)].push_back(i);
      }
    }
  }
  policy.canonical_ = std::move(canon);
  return policy;
}

std::string SerializePolicy(const CompiledPolicy& policy) {
  bj::object out;
  out["version"] = policy.version_;
  out["updated_at"] = FormatRfc3339(policy.updated_at_);
  out["default"] = EffectName(policy.default_);
  // A moved-from policy has no canonical body; it serializes with no rules.
  const bj::object* body = policy.canonical_.if_object();
  const bj::value* rules = body != nullptr ? body->if_contains("rules") : nullptr;
  out["rules"] = rules != nullptr ? *rules : bj::array();
  return bj::serialize(out);
}

void throw_exception_from_error(const PolicyError& error, const boost::source_location&) {
  std::string text = "invalid policy document";
  if (!error.problems.empty()) {
    text += ": " + error.problems.front().path + ": " +
            std::string(ProblemCodeName(error.problems.front().code));
  }
  throw std::runtime_error(text);
}

}  // namespace kmsd::policy
