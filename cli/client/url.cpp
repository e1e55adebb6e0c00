#include "cli/client/url.h"

#include <charconv>

namespace kmsd::client {
namespace {

ClientError Bad(std::string message) {
  return ClientError{ClientError::Kind::kInvalidArgument, 0, {}, std::move(message), {}, 0, {}};
}

}  // namespace

CallResult<BaseUrl> ParseBaseUrl(std::string_view url) {
  BaseUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return Bad("the URL must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Bad("the URL must not have a query or fragment");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) {
    return Bad("the URL must not carry credentials; use --token or --token-file");
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Bad("unterminated IPv6 address in the URL");
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad("bad characters after the IPv6 address in the URL");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return Bad("the URL has no host");
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Bad("the URL has a bad port");
    }
    out.port = std::string(port);
  }
  out.prefix = std::string(path);
  out.text = std::string(out.tls ? "https://" : "http://") + std::string(authority) + out.prefix;
  return out;
}

std::string EscapePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // "." and ".." would be path navigation, not an id: encode them entirely.
  if (segment == "." || segment == "..") return segment.size() == 1 ? "%2E" : "%2E%2E";
  std::string out;
  for (const unsigned char c : segment) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace kmsd::client
