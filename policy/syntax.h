// Parsers of the small textual forms in a policy document. Internal to policy/
// (tested directly by tests/unit/policy/syntax_test.cpp).
#pragma once

#include <boost/system/result.hpp>
#include <chrono>
#include <string_view>

#include "policy/types.h"

namespace kmsd::policy::detail {

template <class T>
using SyntaxResult = boost::system::result<T, ProblemCode>;

// Longest duration accepted: 1000 years of 24-hour days.
inline constexpr std::chrono::hours kMaxDuration{365'000 * 24};

// ISO 8601 duration restricted to exact units: `P[nD][T[nH][nM][nS]]`, each n 1-9
// decimal digits, units in this order, at least one; e.g. P90D, PT36H, P1DT2H.
// A day is 24 hours (UTC arithmetic). Years, months and weeks fail with
// kUnsupportedDurationUnit; zero, over kMaxDuration, fractions, signs, lowercase
// and anything else fail with kInvalidDuration.
SyntaxResult<std::chrono::microseconds> ParseDuration(std::string_view text) noexcept;

// "HH:MM" 00:00-23:59 -> minutes since midnight. With allow_24 (a window's end),
// "24:00" -> 1440. Fails with kInvalidTimeOfDay.
SyntaxResult<int> ParseTimeOfDay(std::string_view text, bool allow_24) noexcept;

// "mon".."sun" -> 0..6 (ISO order, Monday first). Fails with kInvalidDay.
SyntaxResult<int> ParseDay(std::string_view text) noexcept;

// [a-z0-9_.-]{1,64}: asset types and rule ids.
bool IsCanonicalName(std::string_view text) noexcept;
// 1-256 bytes of visible ASCII 0x21-0x7E: principals.
bool IsValidPrincipal(std::string_view text) noexcept;
// An asset id, or an asset id prefix followed by one trailing `*` (a lone `*`
// matches every asset id).
bool IsValidAssetIdPattern(std::string_view text) noexcept;

}  // namespace kmsd::policy::detail
