// Proves that Evaluate() allocates nothing once a policy is loaded: this binary
// replaces the global operator new with one that counts while armed.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace {
std::atomic<bool> g_armed{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_armed.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// g++ 12 sees the replaced new inlined into callers and flags the matching
// free() as mismatched; the pair is correct (both are malloc/free).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kmsd::policy {
namespace {

using testing::At;

// Counts allocations made by fn.
template <class Fn>
long Allocations(Fn&& fn) {
  g_allocations = 0;
  g_armed = true;
  fn();
  g_armed = false;
  return g_allocations.load();
}

// A policy using every condition kind, with windows in three zones.
std::string EveryCondition() {
  std::string rules;
  for (int i = 0; i < 20; ++i) {
    const std::string n = std::to_string(i);
    rules += (i ? "," : "") + std::string(R"({"id":"r)") + n + R"(","effect":")" +
             (i % 3 == 0 ? "deny" : "allow") +
             R"(","operations":["decrypt","encrypt"],)"
             R"("asset_types":["recording","type)" +
             n +
             R"("],)"
             R"("asset_ids":["mtg-)" +
             n + R"(/*","exact)" + n +
             R"(","mtg-*"],)"
             R"("principals":["alice","p)" +
             n +
             R"("],"roles":["decrypt","admin"],)"
             R"("created_between":{"start":"2020-01-01T00:00:00Z","end":"2030-01-01T00:00:00Z"},)"
             R"("created_older_than":"PT1H","created_newer_than":"P3650D",)"
             R"("not_before":"2020-01-01T00:00:00Z","not_after":"2030-01-01T00:00:00Z",)"
             R"("within_windows":[{"days":["mon","tue","wed","thu","fri","sat","sun"],)"
             R"("start":"00:00","end":"24:00","time_zone":"Europe/Berlin"}],)"
             R"("outside_windows":[{"days":["sun"],"start":"02:00","end":"03:00",)"
             R"("time_zone":"Asia/Kathmandu"},{"days":["sat"],"start":"22:00","end":"01:00",)"
             R"("time_zone":"America/New_York"}]})";
  }
  return R"({"default":"deny","rules":[)" + rules + "]}";
}

TEST(PolicyNoAlloc, EvaluateNeverAllocates) {
  const CompiledPolicy policy = testing::Compile(EveryCondition());
  Facts f = testing::BaseFacts();
  const char* kTimes[] = {"2026-03-02T12:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:30:00Z",
                          "2026-03-08T20:45:00Z", "2029-12-31T23:59:59Z"};
  Decision last{};
  const long n = Allocations([&] {
    for (const char* id : {"mtg-3/a", "exact7", "nothing", "mtg-42/"}) {
      for (const char* t : kTimes) {
        f.asset_id = id;
        f.request_time = At(t);  // ParseRfc3339 allocates nothing either
        for (const Operation op : {Operation::kDecrypt, Operation::kEncrypt}) {
          f.operation = op;
          last = policy.Evaluate(f);
        }
      }
    }
  });
  EXPECT_EQ(n, 0);
  EXPECT_FALSE(last.rule_id.empty());
}

TEST(PolicyNoAlloc, CounterSeesAllocations) {
  // Guards the test above: the counter does count, e.g. Explain's vector.
  const CompiledPolicy policy = testing::Compile(EveryCondition());
  const Facts f = testing::BaseFacts();
  EXPECT_GT(Allocations([&] { (void)policy.Explain(f); }), 0);
}

}  // namespace
}  // namespace kmsd::policy
