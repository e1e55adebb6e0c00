#include "cli/recording/progress.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

namespace kmsd::recording {

std::string ProgressLine(const std::string& label, std::uint64_t done, std::uint64_t total) {
  constexpr double kMiB = 1024.0 * 1024.0;
  char line[160];
  if (total == 0) {
    std::snprintf(line, sizeof line, "%s: %.1f MiB", label.c_str(), done / kMiB);
  } else {
    std::snprintf(line, sizeof line, "%s: %3u%% (%.1f / %.1f MiB)", label.c_str(),
                  static_cast<unsigned>(done * 100 / total), done / kMiB, total / kMiB);
  }
  return line;
}

ProgressFn TerminalProgress(std::string label) {
  if (::isatty(STDERR_FILENO) != 1) return {};
  auto last_percent = std::make_shared<int>(-1);
  return [label = std::move(label), last_percent](std::uint64_t done, std::uint64_t total) {
    const int percent = total == 0 ? -1 : static_cast<int>(done * 100 / total);
    if (total != 0 && percent == *last_percent) return;
    *last_percent = percent;
    // \r and clear-to-end-of-line redraw the same line; errors are ignored.
    std::fprintf(stderr, "\r%s\033[K", ProgressLine(label, done, total).c_str());
    if (total != 0 && done >= total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace kmsd::recording
