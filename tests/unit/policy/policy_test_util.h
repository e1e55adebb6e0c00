// Helpers shared by the policy unit tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/time.h"
#include "policy/policy.h"

namespace kmsd::policy::testing {

// An RFC 3339 instant; aborts the test binary on a typo in a table.
inline Instant At(std::string_view text) {
  auto parsed = ParseRfc3339(text);
  if (!parsed) {
    ADD_FAILURE() << "bad instant in test table: " << text;
    return Instant{};
  }
  return *parsed;
}

inline constexpr std::chrono::microseconds kTick{1};

inline CompiledPolicy Compile(std::string_view json) {
  auto policy = ParsePolicyDocument(json);
  if (!policy) {
    std::string problems;
    for (const auto& p : policy.error().problems) {
      problems += p.path + ":" + std::string(ProblemCodeName(p.code)) + " ";
    }
    ADD_FAILURE() << "policy rejected: " << problems;
  }
  return std::move(policy).value();
}

// Facts that no example rule singles out: the rows of a table change one or two.
inline Facts BaseFacts() {
  Facts f;
  f.operation = Operation::kDecrypt;
  f.principal = "alice";
  f.roles = kRoleDecrypt;
  f.asset_type = "recording";
  f.asset_id = "mtg-42/part1";
  f.asset_created_at = At("2026-01-10T00:00:00Z");
  f.request_time = At("2026-03-02T12:00:00Z");  // a Monday
  return f;
}

}  // namespace kmsd::policy::testing
