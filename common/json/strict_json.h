// Strict JSON parsing for everything that crosses a trust boundary.
//
// Boost.JSON keeps the last of two equal keys; a security product must not
// (an attacker picks which duplicate each component sees). ParseStrictJson
// accepts only RFC 8259 JSON with valid UTF-8, no comments, no trailing
// commas, no duplicate keys in any object, nesting at most max_depth deep.
// Fails with kInvalidArgument; the message never echoes input bytes.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "common/result.h"

namespace kmsd::json {

inline constexpr std::size_t kDefaultMaxDepth = 32;

Result<boost::json::value> ParseStrictJson(std::string_view text,
                                           std::size_t max_depth = kDefaultMaxDepth);

// True when `text` is what ParseStrictJson accepts, checked without building
// a document: values (which may be keys) are not copied anywhere.
bool IsStrictJson(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);

}  // namespace kmsd::json
