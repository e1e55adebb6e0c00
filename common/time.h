// Instants and their RFC 3339 text form.
//
// Every instant in kmsd is UTC with microsecond precision. Parsing is strict
// (RFC 3339 §5.6 `date-time`, uppercase 'T', 'Z' or a numeric offset, 1–9
// fraction digits, leap second 60 refused) so that one instant has one
// meaning; formatting is canonical: UTC, 'Z', the fraction only when non-zero
// (6 digits).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kmsd {

using Instant = std::chrono::sys_time<std::chrono::microseconds>;

// Fails with kInvalidArgument on anything that is not an RFC 3339 date-time
// whose UTC instant lies in the years 0001 to 9999, so that FormatRfc3339 of
// every parsed instant parses again.
Result<Instant> ParseRfc3339(std::string_view text);
std::string FormatRfc3339(Instant instant);

inline std::int64_t ToUnixMicros(Instant instant) { return instant.time_since_epoch().count(); }
inline Instant FromUnixMicros(std::int64_t micros) {
  return Instant(std::chrono::microseconds(micros));
}

// The time source of code that reads the clock (broker, daemon); policy/ never
// does. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Instant Now() const override;
};

}  // namespace kmsd
