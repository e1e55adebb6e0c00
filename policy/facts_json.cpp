#include "policy/facts_json.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/json/strict_json.h"
#include "policy/duplicate_keys.h"
#include "policy/syntax.h"

namespace kmsd::policy {
namespace {

namespace bj = boost::json;

constexpr std::string_view kFields[] = {"operation",   "principal", "roles",
                                        "asset_type",  "asset_id",  "asset_created_at",
                                        "request_time"};

std::optional<std::string_view> StringOf(const bj::value& v) {
  if (!v.is_string()) return std::nullopt;
  return std::string_view(v.get_string().data(), v.get_string().size());
}

}  // namespace

Facts FactsDocument::View(Instant now) const {
  Facts f;
  f.operation = operation;
  f.principal = principal;
  f.roles = roles;
  f.asset_type = asset_type;
  f.asset_id = asset_id;
  f.asset_created_at = asset_created_at;
  f.request_time = request_time.value_or(now);
  return f;
}

boost::system::result<FactsDocument, PolicyError> ParseFactsDocument(std::string_view json_text) {
  PolicyError error{MakeError(ErrorCode::kInvalidArgument, "invalid facts document"), {}};
  auto add = [&](std::string path, ProblemCode code) {
    error.problems.push_back({std::move(path), code});
  };
  auto parsed = json::ParseStrictJson(json_text);
  if (!parsed) {
    bool malformed = false;
    for (std::string& path : detail::FindDuplicateKeys(json_text, &malformed)) {
      add(std::move(path), ProblemCode::kDuplicateKey);
    }
    if (malformed || error.problems.empty()) add("", ProblemCode::kMalformedJson);
    return error;
  }
  if (!parsed->is_object()) {
    add("", ProblemCode::kNotAnObject);
    return error;
  }
  const bj::object& o = parsed->get_object();
  for (const auto& member : o) {
    const std::string_view key(member.key().data(), member.key().size());
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      add("", ProblemCode::kUnknownField);
    }
  }
  FactsDocument facts;
  // A required string field checked by `ok`, reported with `bad`.
  auto text = [&](std::string_view name, ProblemCode bad, auto ok) -> std::string {
    const bj::value* v = o.if_contains(name);
    if (v == nullptr) {
      add(std::string(name), ProblemCode::kMissingField);
      return {};
    }
    auto s = StringOf(*v);
    if (!s) {
      add(std::string(name), ProblemCode::kWrongType);
    } else if (!ok(*s)) {
      add(std::string(name), bad);
    } else {
      return std::string(*s);
    }
    return {};
  };
  const std::string op = text("operation", ProblemCode::kInvalidOperation,
                              [](std::string_view s) { return s == "encrypt" || s == "decrypt"; });
  facts.operation = op == "encrypt" ? Operation::kEncrypt : Operation::kDecrypt;
  facts.principal = text("principal", ProblemCode::kInvalidPrincipal, detail::IsValidPrincipal);
  if (const bj::value* roles = o.if_contains("roles")) {
    if (!roles->is_array()) {
      add("roles", ProblemCode::kWrongType);
    } else {
      const bj::array& a = roles->get_array();
      for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string path = "roles[" + std::to_string(i) + "]";
        auto s = StringOf(a[i]);
        if (!s) {
          add(path, ProblemCode::kWrongType);
        } else if (*s == "encrypt") {
          facts.roles |= kRoleEncrypt;
        } else if (*s == "decrypt") {
          facts.roles |= kRoleDecrypt;
        } else if (*s == "admin") {
          facts.roles |= kRoleAdmin;
        } else {
          add(path, ProblemCode::kInvalidRole);
        }
      }
    }
  } else {
    add("roles", ProblemCode::kMissingField);
  }
  facts.asset_type = text("asset_type", ProblemCode::kInvalidAssetType, IsValidAssetType);
  facts.asset_id = text("asset_id", ProblemCode::kInvalidAssetIdValue, IsValidAssetId);
  auto is_instant = [](std::string_view s) { return !!ParseRfc3339(s); };
  const std::string created = text("asset_created_at", ProblemCode::kInvalidInstant, is_instant);
  if (!created.empty()) facts.asset_created_at = *ParseRfc3339(created);
  if (o.if_contains("request_time")) {
    const std::string now = text("request_time", ProblemCode::kInvalidInstant, is_instant);
    if (!now.empty()) facts.request_time = *ParseRfc3339(now);
  }
  if (!error.problems.empty()) return error;
  return facts;
}

std::string ExplanationToJson(const Explanation& explanation) {
  bj::object out;
  // "decision" is the contract's word (DESIGN.md), "effect" the policy's; same value.
  out["decision"] = EffectName(explanation.decision.effect);
  out["effect"] = EffectName(explanation.decision.effect);
  out["rule"] = explanation.decision.rule_id;
  out["policy_version"] = explanation.decision.policy_version;
  bj::array rules;
  for (const RuleTrace& trace : explanation.rules) {
    bj::object r;
    r["id"] = trace.rule_id;
    r["effect"] = EffectName(trace.effect);
    r["matched"] = trace.matched;
    if (!trace.matched) r["failed_condition"] = ConditionName(trace.failed);
    rules.push_back(std::move(r));
  }
  out["rules"] = std::move(rules);
  return bj::serialize(out);
}

}  // namespace kmsd::policy
