// Strict JSON request bodies (docs/api.md, "Request bodies").
//
// Every body the API accepts is one JSON object parsed by
// json::ParseStrictJson (duplicate keys and invalid UTF-8 refused), holding
// only the fields the route names, each of the right type. Every failure is
// kInvalidArgument with a message built from the route's own field names,
// never from request bytes.
#pragma once

#include <boost/json/object.hpp>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/http/handler.h"

namespace kmsd::api {

// Bounds of `encryption_context` (an object of string -> string).
inline constexpr std::size_t kMaxEncryptionContextPairs = 32;
inline constexpr std::size_t kMaxEncryptionContextKeyBytes = 128;
inline constexpr std::size_t kMaxEncryptionContextValueBytes = 1024;

// The request must say Content-Type: application/json (parameters such as
// charset=utf-8 allowed, case-insensitive media type). kInvalidArgument else.
Status CheckJsonContentType(const http::Headers& headers);

class BodyObject {
 public:
  // Empty body, not JSON, not an object, or a field not in `allowed` ->
  // kInvalidArgument.
  static Result<BodyObject> Parse(std::string_view body,
                                  std::initializer_list<std::string_view> allowed);

  // Present, a string, non-empty.
  Result<std::string> RequiredString(std::string_view name) const;
  // Absent -> nullopt; present must be a non-empty string.
  Result<std::optional<std::string>> OptionalString(std::string_view name) const;
  const boost::json::value* Find(std::string_view name) const { return object_.if_contains(name); }

 private:
  explicit BodyObject(boost::json::object object) : object_(std::move(object)) {}
  boost::json::object object_;
};

// An `encryption_context` value: an object of at most
// kMaxEncryptionContextPairs string values, keys 1..128 bytes, values up to
// 1024 bytes (UTF-8 is already guaranteed by the strict parser).
Result<std::map<std::string, std::string>> ParseEncryptionContext(const boost::json::value& value);

}  // namespace kmsd::api
