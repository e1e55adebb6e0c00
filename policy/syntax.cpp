#include "policy/syntax.h"

#include <cstdint>

#include "policy/policy.h"

namespace kmsd::policy {

bool IsValidAssetType(std::string_view text) noexcept { return detail::IsCanonicalName(text); }

bool IsValidAssetId(std::string_view text) noexcept {
  if (text.empty() || text.size() > 256) return false;
  for (const char c : text) {
    if (c < 0x21 || c > 0x7E || c == '*') return false;
  }
  return true;
}

namespace detail {

SyntaxResult<std::chrono::microseconds> ParseDuration(std::string_view text) noexcept {
  using std::chrono::microseconds;
  if (text.size() < 3 || text[0] != 'P') return ProblemCode::kInvalidDuration;
  // Units in the order they must appear; 'T' separates the date and time parts.
  struct Unit {
    char letter;
    bool time_part;
    std::int64_t micros;
  };
  static constexpr Unit kUnits[] = {{'D', false, 86'400'000'000},
                                    {'H', true, 3'600'000'000},
                                    {'M', true, 60'000'000},
                                    {'S', true, 1'000'000}};
  std::size_t pos = 1, next_unit = 0;
  bool in_time = false, any = false, time_component = false;
  std::int64_t total = 0;
  while (pos < text.size()) {
    if (text[pos] == 'T') {
      if (in_time) return ProblemCode::kInvalidDuration;
      in_time = true;
      ++pos;
      continue;
    }
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 9) return ProblemCode::kInvalidDuration;
      n = n * 10 + (text[pos] - '0');
      ++pos;
    }
    if (digits == 0 || pos == text.size()) return ProblemCode::kInvalidDuration;
    const char letter = text[pos++];
    if (!in_time && (letter == 'Y' || letter == 'M' || letter == 'W')) {
      return ProblemCode::kUnsupportedDurationUnit;
    }
    std::size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].letter != letter) ++u;
    if (u == std::size(kUnits) || kUnits[u].time_part != in_time) {
      return ProblemCode::kInvalidDuration;
    }
    next_unit = u + 1;
    total += n * kUnits[u].micros;  // at most 4 * 999,999,999 days: no overflow
    any = true;
    time_component = time_component || in_time;
  }
  if (!any || (in_time && !time_component)) return ProblemCode::kInvalidDuration;
  if (total <= 0 || microseconds(total) > kMaxDuration) return ProblemCode::kInvalidDuration;
  return microseconds(total);
}

SyntaxResult<int> ParseTimeOfDay(std::string_view text, bool allow_24) noexcept {
  auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
    return ProblemCode::kInvalidTimeOfDay;
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (allow_24 && h == 24 && m == 0) return 24 * 60;
  if (h > 23 || m > 59) return ProblemCode::kInvalidTimeOfDay;
  return h * 60 + m;
}

SyntaxResult<int> ParseDay(std::string_view text) noexcept {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (int i = 0; i < 7; ++i) {
    if (text == kDays[i]) return i;
  }
  return ProblemCode::kInvalidDay;
}

bool IsCanonicalName(std::string_view text) noexcept {
  if (text.empty() || text.size() > 64) return false;
  for (const char c : text) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidPrincipal(std::string_view text) noexcept {
  if (text.empty() || text.size() > 256) return false;
  for (const char c : text) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

bool IsValidAssetIdPattern(std::string_view text) noexcept {
  if (text == "*") return true;
  if (!text.empty() && text.back() == '*') text.remove_suffix(1);
  return IsValidAssetId(text);
}

}  // namespace detail
}  // namespace kmsd::policy
