// Request ids: echoed from X-Request-Id when sane, otherwise generated.
#pragma once

#include <string>
#include <string_view>

namespace kmsd::http {

inline constexpr std::size_t kMaxRequestIdLength = 64;

// True for 1..64 characters of [A-Za-z0-9._:-]: safe to echo in a header and
// to write into a log line.
bool IsSaneRequestId(std::string_view id) noexcept;

// A random UUIDv4 in canonical text form. Falls back to a process counter
// only if the OpenSSL RNG fails (the id is a correlation handle, not a secret).
std::string GenerateRequestId();

// The client's id when sane, else a generated one.
std::string RequestIdFor(std::string_view client_supplied);

}  // namespace kmsd::http
