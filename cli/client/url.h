// The daemon's base URL: http://HOST[:PORT][/PREFIX] or https://...
// HOST may be a name, an IPv4 address or a bracketed IPv6 address.
#pragma once

#include <string>
#include <string_view>

#include "cli/client/error.h"

namespace kmsd::client {

struct BaseUrl {
  bool tls = false;
  std::string host;    // without brackets
  std::string port;    // defaults: 80 / 443
  std::string prefix;  // path prefix without trailing '/', usually empty
  std::string text;    // the URL as given, normalised (no trailing '/')
};

// kInvalidArgument for another scheme, an empty host, a bad port, a query or
// fragment, or userinfo (credentials in URLs end up in shell history and logs).
CallResult<BaseUrl> ParseBaseUrl(std::string_view url);

// Percent-encodes one path segment (RFC 3986 unreserved characters pass;
// a segment of "." or ".." is encoded whole so it cannot navigate).
std::string EscapePathSegment(std::string_view segment);

}  // namespace kmsd::client
