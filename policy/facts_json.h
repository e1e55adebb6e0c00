// JSON forms of the evaluate dry run (POST /v1/policy/evaluate): the facts in,
// the explanation out. Not on the request path of generate/decrypt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "policy/policy.h"

namespace kmsd::policy {

// Owns the strings a Facts views.
struct FactsDocument {
  Operation operation = Operation::kDecrypt;
  std::string principal;
  RoleSet roles = 0;
  std::string asset_type;
  std::string asset_id;
  Instant asset_created_at{};
  // Absent: the caller (broker) evaluates at its own clock's now.
  std::optional<Instant> request_time;

  // Views into this document; valid while it lives unmoved.
  Facts View(Instant now) const;
};

// Parses {"operation", "principal", "roles", "asset_type", "asset_id",
// "asset_created_at", "request_time"?}. All fields but request_time are
// required; roles may be empty. Values are checked as at ingress (asset types
// canonical, ids and principals visible ASCII, instants RFC 3339). Fails like
// ParsePolicyDocument: every problem with its path, no input echoed.
boost::system::result<FactsDocument, PolicyError> ParseFactsDocument(std::string_view json_text);

// {"effect", "rule", "policy_version", "rules": [{"id", "effect", "matched",
//  "failed_condition"?}]}; failed_condition is the JSON field name of the
// first condition that did not hold, absent for a matching rule.
std::string ExplanationToJson(const Explanation& explanation);

}  // namespace kmsd::policy
