// LogCapture: while alive, everything logged through spdlog's default logger
// (at any level) is also kept in memory, so a test can assert what the code
// under test logged, e.g. that no PIN or key bytes appear. Captures may come
// and go while other threads log (a running server).
#pragma once

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <span>
#include <sstream>
#include <string>

namespace kmsd::testing {

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string Text() const;
  // True if `needle` appears in the captured text verbatim, as lowercase or
  // uppercase hex, or as standard base64 (the usual ways bytes leak).
  bool Contains(std::span<const std::uint8_t> needle) const;

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum previous_level_;
};

}  // namespace kmsd::testing
