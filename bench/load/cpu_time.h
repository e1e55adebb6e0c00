// CPU time of a process during a timed phase, for the report's per-operation
// CPU figures (what each request costs, whatever the machine's load).
#pragma once

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace kmsd::bench {

// User + system CPU seconds of every thread of `pid` so far (/proc/PID/stat),
// or a negative value when it cannot be read.
inline double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return -1;
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return -1;
}

// Samples a process's CPU time at `from` and at `to` on its own thread; read
// the difference with seconds() after `to`.
class PhaseCpu {
 public:
  PhaseCpu(pid_t pid, std::chrono::steady_clock::time_point from,
           std::chrono::steady_clock::time_point to)
      : sampler_([this, pid, from, to] {
          std::this_thread::sleep_until(from);
          start_ = ProcessCpuSeconds(pid);
          std::this_thread::sleep_until(to);
          end_ = ProcessCpuSeconds(pid);
        }) {}

  // CPU seconds spent between `from` and `to`; negative when unknown.
  double seconds() {
    if (sampler_.joinable()) sampler_.join();  // returns after `to`
    return start_ < 0 || end_ < 0 ? -1 : end_ - start_;
  }

 private:
  double start_ = -1;
  double end_ = -1;
  std::jthread sampler_;  // last: it writes the members above
};

}  // namespace kmsd::bench
