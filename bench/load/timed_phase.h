// Runs `operation` on N threads for warm-up + duration and keeps the latency
// of operations that started after the warm-up and ended before the deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "bench/load/cpu_time.h"
#include "bench/load/latency.h"

namespace kmsd::bench {

// operation(worker) returns true on success. Thread-safe use of shared state
// is the caller's business. The summary's cpu_us_per_op is this process's.
inline PhaseSummary RunThreadedPhase(unsigned threads, std::chrono::seconds warmup,
                                     std::chrono::seconds duration,
                                     const std::function<bool(unsigned)>& operation) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto measure_from = start + warmup;
  const auto deadline = measure_from + duration;
  std::vector<LatencySamples> samples(threads);
  PhaseCpu cpu(::getpid(), measure_from, deadline);
  std::vector<std::jthread> workers;
  for (unsigned worker = 0; worker < threads; ++worker) {
    workers.emplace_back([&, worker] {
      auto& mine = samples[worker];
      while (true) {
        const auto began = Clock::now();
        if (began >= deadline) break;
        const bool ok = operation(worker);
        const auto ended = Clock::now();
        if (began < measure_from || ended > deadline) continue;
        if (ok) {
          mine.durations.push_back(ended - began);
        } else {
          ++mine.errors;
        }
      }
    });
  }
  workers.clear();  // joins
  auto summary = Summarize(std::move(samples), deadline - measure_from);
  summary.cpu_us_per_op = CpuMicrosPerOperation(cpu.seconds(), summary.operations);
  return summary;
}

}  // namespace kmsd::bench
