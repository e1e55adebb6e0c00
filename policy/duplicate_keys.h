// Locates duplicate JSON keys for the policy validator. Internal to policy/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kmsd::policy::detail {

// Paths (policy path syntax) of every key that repeats within its object, in
// document order. A path names a key only when it is a field of the policy
// format; otherwise it stops at the enclosing object, so no document byte is
// echoed. If the text is not well-formed JSON the scan stops at the fault and
// `malformed` is set.
std::vector<std::string> FindDuplicateKeys(std::string_view json_text, bool* malformed = nullptr);

}  // namespace kmsd::policy::detail
