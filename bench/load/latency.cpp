#include "bench/load/latency.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace kmsd::bench {
namespace {

double PercentileMs(const std::vector<std::chrono::nanoseconds>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least `fraction` of samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return std::chrono::duration<double, std::milli>(sorted[rank - 1]).count();
}

}  // namespace

PhaseSummary Summarize(std::vector<LatencySamples> workers, std::chrono::nanoseconds elapsed) {
  std::vector<std::chrono::nanoseconds> all;
  PhaseSummary summary;
  for (auto& worker : workers) {
    all.insert(all.end(), worker.durations.begin(), worker.durations.end());
    summary.errors += worker.errors;
  }
  std::sort(all.begin(), all.end());
  summary.operations = all.size();
  summary.seconds = std::chrono::duration<double>(elapsed).count();
  summary.per_second =
      summary.seconds > 0 ? static_cast<double>(summary.operations) / summary.seconds : 0;
  summary.p50_ms = PercentileMs(all, 0.50);
  summary.p99_ms = PercentileMs(all, 0.99);
  summary.p999_ms = PercentileMs(all, 0.999);
  return summary;
}

double CpuMicrosPerOperation(double cpu_seconds, std::uint64_t operations) {
  if (cpu_seconds < 0 || operations == 0) return -1;
  return cpu_seconds * 1e6 / static_cast<double>(operations);
}

std::string FormatSummaryLine(const std::string& label, const PhaseSummary& summary) {
  std::string line = fmt::format(
      "{} ops={} errors={} seconds={:.2f} ops_s={:.1f} p50_ms={:.3f} "
      "p99_ms={:.3f} p999_ms={:.3f}",
      label, summary.operations, summary.errors, summary.seconds, summary.per_second,
      summary.p50_ms, summary.p99_ms, summary.p999_ms);
  if (summary.cpu_us_per_op >= 0)
    line += fmt::format(" cpu_us_per_op={:.1f}", summary.cpu_us_per_op);
  if (summary.client_cpu_us_per_op >= 0) {
    line += fmt::format(" client_cpu_us_per_op={:.1f}", summary.client_cpu_us_per_op);
  }
  return line;
}

}  // namespace kmsd::bench
