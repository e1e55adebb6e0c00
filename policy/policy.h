// The tenant policy engine: a pure decision function (policy, facts) -> decision.
//
// A policy document (JSON, format in docs/policy.md) is parsed and validated once
// into a CompiledPolicy; every condition is precompiled (time zones resolved,
// weekly windows turned into minute-of-week masks, id lists sorted), so that
// Evaluate() does no allocation, no I/O and reads no clock: the request time is a
// fact passed in. Evaluate() costs O(rules x log(list size)).
//
// Semantics (see docs/policy.md): deny overrides allow; when no rule matches the
// document's `default` effect applies. Every interval is start-inclusive,
// end-exclusive.
//
// Thread safety: a CompiledPolicy is immutable after parsing (SetVersion aside);
// Evaluate() and Explain() may be called from any number of threads at once.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "policy/types.h"

namespace kmsd::policy {

// The name a Decision carries when no rule matched.
inline constexpr std::string_view kDefaultRuleId = "default";

// A caller's roles as granted by the identity provider (a bit set).
enum RoleBits : std::uint8_t {
  kRoleEncrypt = 1u << 0,
  kRoleDecrypt = 1u << 1,
  kRoleAdmin = 1u << 2,
};
using RoleSet = std::uint8_t;

// Everything a decision depends on. The views must outlive the call only.
// The tenant is not a fact: the broker picks the tenant's policy before asking.
struct Facts {
  Operation operation = Operation::kDecrypt;
  std::string_view principal;  // the authenticated caller (token `sub`)
  RoleSet roles = 0;
  std::string_view asset_type;
  std::string_view asset_id;
  Instant asset_created_at{};
  Instant request_time{};
};

struct Decision {
  Effect effect = Effect::kDeny;
  // The deciding rule's id, or kDefaultRuleId. Views the CompiledPolicy (or the
  // static kDefaultRuleId): valid while that policy object lives unmoved.
  std::string_view rule_id;
  std::uint64_t policy_version = 0;

  bool allowed() const { return effect == Effect::kAllow; }
};

// Why one rule did or did not match (for the evaluate dry run).
struct RuleTrace {
  std::string_view rule_id;
  Effect effect = Effect::kDeny;
  bool matched = false;
  Condition failed = Condition::kNone;  // the first condition that did not hold
};

struct Explanation {
  Decision decision;
  std::vector<RuleTrace> rules;  // one per rule, in document order
};

// One validation problem. `path` is built only from known field names and array
// indices (e.g. `rules[2].outside_windows[0].time_zone`; "" is the document
// itself); it never echoes document bytes, so it is safe to log and return.
struct Problem {
  std::string path;
  ProblemCode code = ProblemCode::kMalformedJson;

  friend bool operator==(const Problem&, const Problem&) = default;
};

// A rejected document: `error` has code kInvalidArgument and a fixed message;
// `problems` lists every problem found (at least one), in document order.
struct PolicyError {
  Error error;
  std::vector<Problem> problems;
};

// Found by ADL when PolicyResult::value() is called on an error (tests,
// start-up code): throws std::runtime_error naming the first problem.
[[noreturn]] void throw_exception_from_error(const PolicyError& error,
                                             const boost::source_location& location);

class CompiledPolicy;
using PolicyResult = boost::system::result<CompiledPolicy, PolicyError>;

class CompiledPolicy {
 public:
  CompiledPolicy(CompiledPolicy&&) noexcept = default;
  CompiledPolicy& operator=(CompiledPolicy&&) noexcept = default;
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  // Never allocates, never throws, never fails.
  Decision Evaluate(const Facts& facts) const noexcept;
  // The same decision plus, per rule, whether it matched and which condition
  // failed first. Allocates; not for the request path.
  Explanation Explain(const Facts& facts) const;

  // The version and time the broker assigned when it stored this document.
  void SetVersion(std::uint64_t version, Instant updated_at) {
    version_ = version;
    updated_at_ = updated_at;
  }
  std::uint64_t version() const { return version_; }
  Instant updated_at() const { return updated_at_; }
  // The `version` field the submitted document carried, if any (a client that
  // round-trips GET output sends it back). Not used by evaluation; the broker
  // may use it for an optimistic concurrency check.
  std::optional<std::uint64_t> submitted_version() const { return submitted_version_; }

  Effect default_effect() const { return default_; }
  std::size_t rule_count() const { return rules_.size(); }

 private:
  friend PolicyResult ParsePolicyValue(const boost::json::value& document);
  friend std::string SerializePolicy(const CompiledPolicy& policy);
  CompiledPolicy() = default;

  Effect default_ = Effect::kDeny;
  std::vector<detail::Rule> rules_;
  // Indices into rules_ of the rules that name each operation, in order.
  std::vector<std::uint32_t> by_operation_[2];
  std::uint64_t version_ = 0;
  Instant updated_at_{};
  std::optional<std::uint64_t> submitted_version_;
  // The validated document without version/updated_at, canonical form.
  boost::json::value canonical_;
};

// Parses and validates a policy document (the body of PUT /v1/policy). Fails
// with a PolicyError listing every problem; an invalid document is rejected
// whole. Reads the system time zone database for named zones; nothing else.
// The result has version 0 until SetVersion.
PolicyResult ParsePolicyDocument(std::string_view json_text);
// The same for a value the caller already parsed; it must come from
// json::ParseStrictJson (a DOM no longer shows duplicate keys).
PolicyResult ParsePolicyValue(const boost::json::value& document);

// The canonical JSON of a policy: {"version", "updated_at", "default", "rules"}
// with fields in a fixed order and instants as UTC RFC 3339. Parsing the output
// yields an equivalent policy (GET output may be PUT back unchanged).
std::string SerializePolicy(const CompiledPolicy& policy);

// Stable snake_case names used in API bodies and audit events.
std::string_view EffectName(Effect effect) noexcept;
std::string_view OperationName(Operation operation) noexcept;
std::string_view ConditionName(Condition condition) noexcept;  // the JSON field
std::string_view ProblemCodeName(ProblemCode code) noexcept;
// A fixed English sentence per code (never contains document bytes).
std::string_view ProblemMessage(ProblemCode code) noexcept;

// Ingress checks the broker also applies to request fields, so that a value the
// policy could never name cannot reach it: asset types are `[a-z0-9_.-]{1,64}`
// (never case-folded); asset ids are 1-256 bytes of visible ASCII
// (0x21-0x7E) other than `*`.
bool IsValidAssetType(std::string_view text) noexcept;
bool IsValidAssetId(std::string_view text) noexcept;

}  // namespace kmsd::policy
