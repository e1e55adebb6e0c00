// Latency samples and their summary for the benchmark (not for the daemon).
//
// Each worker appends to its own LatencySamples (no locks on the hot path);
// Summarize merges them once the timed phase is over.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kmsd::bench {

struct LatencySamples {
  std::vector<std::chrono::nanoseconds> durations;  // successful operations in the timed phase
  std::uint64_t errors = 0;                         // failed operations in the timed phase
};

struct PhaseSummary {
  std::uint64_t operations = 0;  // successful, in the timed phase
  std::uint64_t errors = 0;
  double seconds = 0;
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  // CPU microseconds per successful operation during the timed phase, of the
  // process doing the work (the raw token's own process, or the daemon) and
  // of the load generator; negative when not measured.
  double cpu_us_per_op = -1;
  double client_cpu_us_per_op = -1;
};

// CPU seconds spread over the phase's operations; negative when unknown.
double CpuMicrosPerOperation(double cpu_seconds, std::uint64_t operations);

// Percentiles by nearest rank over every sample; all zero when there are none.
PhaseSummary Summarize(std::vector<LatencySamples> workers, std::chrono::nanoseconds elapsed);

// "generate conns=8 ops=1234 errors=0 ops_s=123.4 p50_ms=... p99_ms=... p999_ms=..."
// then cpu_us_per_op=... and client_cpu_us_per_op=... when measured.
// One line, key=value, so bench/run.sh can read it with awk.
std::string FormatSummaryLine(const std::string& label, const PhaseSummary& summary);

}  // namespace kmsd::bench
