// Evaluations per second of CompiledPolicy::Evaluate on 100-rule policies.
//
// Three shapes bound the cost: rules that fail on their first condition (the
// common case when rules name asset types), rules whose every condition up to
// the weekly windows holds (each rule then converts the request time to local
// time in a tz database zone: the worst case), and the DESIGN.md example.
#include <benchmark/benchmark.h>

#include <string>

#include "policy/policy.h"

namespace {

using kmsd::policy::CompiledPolicy;
using kmsd::policy::Facts;
using kmsd::policy::Operation;

Facts BenchFacts();

// Compiles `json` and checks that, for the benchmark facts, every rule fails at
// `expected` (kNone: skip the check): a benchmark that silently measured an
// early exit would report a flattering number.
CompiledPolicy Compile(const std::string& json,
                       kmsd::policy::Condition expected = kmsd::policy::Condition::kNone) {
  auto policy = kmsd::policy::ParsePolicyDocument(json);
  if (!policy) std::abort();
  if (expected != kmsd::policy::Condition::kNone) {
    for (const auto& rule : policy->Explain(BenchFacts()).rules) {
      if (rule.failed != expected) std::abort();
    }
  }
  return std::move(policy).value();
}

// Zones where Monday 12:00Z is inside 08:00-18:00 local, so no rule matches.
const char* kZones[] = {"Europe/Berlin", "Europe/London", "Asia/Kathmandu", "Asia/Kolkata",
                        "Europe/Helsinki"};

// 100 deny rules; `types_match` decides whether the asset type condition (the
// first one checked after the operation) holds for the benchmark facts.
std::string HundredRules(bool types_match) {
  std::string rules;
  for (int i = 0; i < 100; ++i) {
    const std::string n = std::to_string(i);
    rules += (i ? "," : "") + std::string(R"({"id":"rule-)") + n + R"(","effect":")" +
             (i % 2 ? "deny" : "allow") + R"(","operations":["decrypt"],"asset_types":[")" +
             (types_match ? "recording" : "type-" + n) + R"(","other-)" + n + R"("],)" +
             R"("asset_ids":["mtg-)" + n + R"(/*","mtg-*"],"roles":["decrypt"],)" +
             R"("created_older_than":"P)" + std::to_string(i + 1) + R"(D",)" +
             R"("not_before":"2020-01-01T00:00:00Z",)" +
             R"("outside_windows":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00",)" +
             R"("end":"18:00","time_zone":")" + kZones[i % 5] + R"("}]})";
  }
  return R"({"default":"allow","rules":[)" + rules + "]}";
}

Facts BenchFacts() {
  Facts f;
  f.operation = Operation::kDecrypt;
  f.principal = "media-server-01";
  f.roles = kmsd::policy::kRoleDecrypt;
  f.asset_type = "recording";
  f.asset_id = "mtg-7/part-3";
  f.asset_created_at = *kmsd::ParseRfc3339("2025-01-10T00:00:00Z");
  f.request_time = *kmsd::ParseRfc3339("2026-03-02T12:00:00Z");  // Monday: inside the windows
  return f;
}

void Run(benchmark::State& state, const CompiledPolicy& policy) {
  Facts f = BenchFacts();
  const auto start = f.request_time;
  const kmsd::policy::Decision expected = policy.Evaluate(f);
  std::int64_t tick = 0;
  for (auto _ : state) {
    // Vary the request time within 65 ms of the start (never accumulating, so
    // every iteration stays inside the windows and walks the same rules) so
    // that no branch predictor or cache sees one instant.
    f.request_time = start + std::chrono::microseconds(++tick & 0xFFFF);
    benchmark::DoNotOptimize(policy.Evaluate(f));
  }
  // The figure is only worth its name if the last evaluation decided as the
  // first: same rule, so the same amount of work.
  f.request_time = start + std::chrono::microseconds(tick & 0xFFFF);
  if (policy.Evaluate(f).rule_id != expected.rule_id) {
    state.SkipWithError("decision changed during the run: the figure would mix workloads");
  }
  state.counters["evaluations_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Evaluate100RulesFirstConditionFails(benchmark::State& state) {
  static const CompiledPolicy policy =
      Compile(HundredRules(false), kmsd::policy::Condition::kAssetTypes);
  Run(state, policy);
}
BENCHMARK(BM_Evaluate100RulesFirstConditionFails);

void BM_Evaluate100RulesEveryRuleReachesItsWindows(benchmark::State& state) {
  static const CompiledPolicy policy =
      Compile(HundredRules(true), kmsd::policy::Condition::kOutsideWindows);
  Run(state, policy);
}
BENCHMARK(BM_Evaluate100RulesEveryRuleReachesItsWindows);

void BM_EvaluateDesignExample(benchmark::State& state) {
  static const CompiledPolicy policy = Compile(R"({"default":"allow","rules":[
    {"id":"no-webinars","effect":"deny","operations":["decrypt"],"asset_types":["webinar_recording"]},
    {"id":"q1-freeze","effect":"deny","operations":["decrypt"],
     "created_between":{"start":"2026-01-01T00:00:00Z","end":"2026-04-01T00:00:00Z"}},
    {"id":"retention","effect":"deny","operations":["decrypt"],"asset_types":["recording"],
     "created_older_than":"P90D"},
    {"id":"office-hours","effect":"deny","operations":["decrypt"],"asset_ids":["board/*"],
     "roles":["decrypt"],"outside_windows":[{"days":["mon","tue","wed","thu","fri"],
     "start":"08:00","end":"18:00","time_zone":"Europe/Berlin"}]}]})");
  Run(state, policy);
}
BENCHMARK(BM_EvaluateDesignExample);

void BM_Parse100RulePolicy(benchmark::State& state) {
  const std::string json = HundredRules(true);
  for (auto _ : state) benchmark::DoNotOptimize(kmsd::policy::ParsePolicyDocument(json));
}
BENCHMARK(BM_Parse100RulePolicy)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
