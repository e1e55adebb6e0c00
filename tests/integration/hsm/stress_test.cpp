// 8 threads x 5,000 generate+unwrap on one pool of 4 sessions: zero errors,
// every unwrap returns its key, and the token holds exactly the objects it
// held before (no leaked session or token objects). Prints the rate; speed
// itself is measured by bench/, not asserted here.
#include <chrono>
#include <iostream>
#include <thread>

#include "tests/integration/hsm/key_service_fixture.h"

namespace kmsd::hsm {
namespace {

TEST_F(KeyServiceTest, EightThreadsFiveThousandRoundTripsEach) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  ASSERT_TRUE(service_->CreateKek({"globex", 1}));
  const std::size_t objects_before = ObjectCount();

  std::atomic<int> errors{0}, mismatches{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads on each tenant, so handle caching sees two keys.
      const KekId kek = t % 2 == 0 ? kAcme1 : KekId{"globex", 1};
      const std::string aad = "thread=" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        auto g = service_->GenerateDataKey(kek, Bytes(aad));
        if (!g) {
          ++errors;
          continue;
        }
        auto u = service_->Unwrap(kek, g->wrapped, Bytes(aad));
        if (!u) {
          ++errors;
        } else if (!u->Equals(g->plaintext.expose())) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(ObjectCount(), objects_before);
  const auto stats = service_->stats();
  EXPECT_EQ(stats.unavailable_errors, 0u);
  EXPECT_EQ(stats.session_reopens, 0u);
  const double ops = 2.0 * kThreads * kPerThread;
  std::cout << "stress: " << kThreads << "x" << kPerThread << " generate+unwrap in " << seconds
            << " s = " << static_cast<long>(ops / seconds) << " token ops/s ("
            << static_cast<long>(ops / 2 / seconds) << " round trips/s)\n";
  RecordProperty("ops_per_second", static_cast<int>(ops / seconds));
}

}  // namespace
}  // namespace kmsd::hsm
