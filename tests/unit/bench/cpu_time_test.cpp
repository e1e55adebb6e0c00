// The benchmark's CPU accounting (bench/load/cpu_time.h): /proc/PID/stat read
// right, so that the report's CPU per operation means what it says.
#include "bench/load/cpu_time.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <climits>

namespace kmsd::bench {
namespace {

TEST(ProcessCpuSeconds, GrowsWhileThisProcessComputes) {
  const double before = ProcessCpuSeconds(::getpid());
  ASSERT_GE(before, 0);
  // Compute until the kernel's tick counter moves (bounded by wall time).
  volatile std::uint64_t sink = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  double after = before;
  while (after <= before && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 1'000'000; ++i) sink = sink + static_cast<std::uint64_t>(i);
    after = ProcessCpuSeconds(::getpid());
  }
  EXPECT_GT(after, before);
  EXPECT_LT(after - before, 10.0);
}

TEST(ProcessCpuSeconds, UnknownProcessIsNegative) { EXPECT_LT(ProcessCpuSeconds(INT_MAX), 0); }

}  // namespace
}  // namespace kmsd::bench
