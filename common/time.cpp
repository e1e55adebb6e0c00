#include "common/time.h"

#include <charconv>
#include <cstdio>

namespace kmsd {
namespace {

// Reads exactly `width` decimal digits at `pos`.
bool ReadDigits(std::string_view text, std::size_t pos, std::size_t width, int& out) {
  if (pos + width > text.size()) return false;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

Error Invalid() { return MakeError(ErrorCode::kInvalidArgument, "not an RFC 3339 date-time"); }

}  // namespace

Result<Instant> ParseRfc3339(std::string_view text) {
  using namespace std::chrono;
  int y, mo, d, h, mi, s;
  if (text.size() < 20 || !ReadDigits(text, 0, 4, y) || text[4] != '-' ||
      !ReadDigits(text, 5, 2, mo) || text[7] != '-' || !ReadDigits(text, 8, 2, d) ||
      text[10] != 'T' || !ReadDigits(text, 11, 2, h) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, mi) || text[16] != ':' || !ReadDigits(text, 17, 2, s)) {
    return Invalid();
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (y < 1 || !date.ok() || h > 23 || mi > 59 || s > 59) return Invalid();

  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return Invalid();
    for (std::size_t i = digits; i < 6; ++i) micros *= 10;
  }
  if (pos >= text.size()) return Invalid();
  int offset_minutes = 0;
  if (text[pos] == 'Z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int oh, om;
    if (!ReadDigits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !ReadDigits(text, pos + 4, 2, om) || oh > 23 || om > 59) {
      return Invalid();
    }
    offset_minutes = (text[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return Invalid();
  }
  if (pos != text.size()) return Invalid();

  const auto local = sys_days(date) + hours(h) + minutes(mi) + seconds(s) + microseconds(micros);
  const Instant instant(local - minutes(offset_minutes));
  // An offset can carry 9999-12-31T23:59:59-00:01 into year 10000 (or year
  // 0001 back into 0000): refused, since its canonical UTC text would be
  // neither RFC 3339 nor parseable here again.
  constexpr auto kFirst = sys_days(year{1} / January / 1);
  constexpr auto kEnd = sys_days(year{10000} / January / 1);
  if (instant < kFirst || instant >= kEnd) return Invalid();
  return instant;
}

std::string FormatRfc3339(Instant instant) {
  using namespace std::chrono;
  const auto day_start = floor<days>(instant);
  const year_month_day date{day_start};
  const hh_mm_ss time{instant - day_start};
  char buf[40];
  const auto micros = duration_cast<microseconds>(time.subseconds()).count();
  int n =
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02lld", int(date.year()),
                    unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                    int(time.minutes().count()), static_cast<long long>(time.seconds().count()));
  if (micros != 0) {
    n += std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(micros));
  }
  return std::string(buf, n) + "Z";
}

Instant SystemClock::Now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace kmsd
