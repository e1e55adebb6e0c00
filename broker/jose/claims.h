// Typed access to JWT claims (RFC 7519 §4.1) of a verified payload.
//
// Shared by the identity and authorization verifiers; every accessor fails
// with a TokenFailure (never with payload bytes). Pure and thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "broker/jose/jws.h"
#include "common/time.h"

namespace kmsd::jose {

inline constexpr std::size_t kMaxClaimStringBytes = 1024;

// Parses the payload as a strict-JSON object (duplicate keys refused).
Result<boost::json::object> ParseClaims(std::string_view payload, ErrorCode code);

// A required string claim, non-empty, <= max_bytes, without control chars.
Result<std::string> RequiredString(const boost::json::object& claims, std::string_view name,
                                   ErrorCode code, std::size_t max_bytes = kMaxClaimStringBytes);
// As above, but nullopt when absent.
Result<std::optional<std::string>> OptionalString(const boost::json::object& claims,
                                                  std::string_view name, ErrorCode code,
                                                  std::size_t max_bytes = kMaxClaimStringBytes);

// A NumericDate (seconds since the epoch, integer or finite fraction, years
// 1970..9999) as an Instant; nullopt when absent.
Result<std::optional<Instant>> OptionalNumericDate(const boost::json::object& claims,
                                                   std::string_view name, ErrorCode code);

// True when `aud` is the string `audience` or an array of strings holding it.
bool AudienceContains(const boost::json::object& claims, std::string_view audience);

}  // namespace kmsd::jose
