// The API's own path namespace, shared by the front splitter (which must
// never hand these paths to the XKS front) and the config check (which
// refuses an XKS key store prefix inside it).
#pragma once

#include <string_view>

namespace kmsd::daemon {

// True for "/v1" and the paths under it: the API's, whatever they contain
// (a context id may hold "/kms/xks/").
inline bool IsApiPath(std::string_view path) { return path == "/v1" || path.starts_with("/v1/"); }

}  // namespace kmsd::daemon
