#include "daemon/api/body_json.h"

#include <boost/json/value.hpp>
#include <cctype>

#include "common/json/strict_json.h"

namespace kmsd::api {
namespace {

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalidArgument, message); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Status CheckJsonContentType(const http::Headers& headers) {
  const auto value = headers.Get("Content-Type");
  if (!value) return Invalid("content type must be application/json");
  std::string_view media = *value;
  if (auto semicolon = media.find(';'); semicolon != std::string_view::npos) {
    media = media.substr(0, semicolon);
  }
  if (!EqualsIgnoreCase(Trim(media), "application/json")) {
    return Invalid("content type must be application/json");
  }
  return {};
}

Result<BodyObject> BodyObject::Parse(std::string_view body,
                                     std::initializer_list<std::string_view> allowed) {
  if (body.empty()) return Invalid("request body required");
  auto parsed = json::ParseStrictJson(body);
  if (!parsed) return Invalid("request body is not valid JSON");
  if (!parsed->is_object()) return Invalid("request body must be a JSON object");
  for (const auto& field : parsed->get_object()) {
    bool known = false;
    for (auto name : allowed) known = known || field.key() == name;
    // The unknown name is request bytes: it stays out of the message.
    if (!known) return Invalid("request body has an unknown field");
  }
  return BodyObject(std::move(parsed->get_object()));
}

Result<std::string> BodyObject::RequiredString(std::string_view name) const {
  auto value = OptionalString(name);
  if (!value) return value.error();
  if (!*value) return Invalid("field " + std::string(name) + " is required");
  return std::move(**value);
}

Result<std::optional<std::string>> BodyObject::OptionalString(std::string_view name) const {
  const auto* value = object_.if_contains(name);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) return Invalid("field " + std::string(name) + " must be a string");
  if (value->get_string().empty()) {
    return Invalid("field " + std::string(name) + " must not be empty");
  }
  return std::optional<std::string>(std::string(value->get_string()));
}

Result<std::map<std::string, std::string>> ParseEncryptionContext(const boost::json::value& value) {
  if (!value.is_object()) return Invalid("field encryption_context must be an object");
  const auto& object = value.get_object();
  if (object.size() > kMaxEncryptionContextPairs) {
    return Invalid("field encryption_context has too many entries");
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, entry] : object) {
    if (key.empty() || key.size() > kMaxEncryptionContextKeyBytes) {
      return Invalid("field encryption_context has a key of bad length");
    }
    if (!entry.is_string()) return Invalid("field encryption_context values must be strings");
    if (entry.get_string().size() > kMaxEncryptionContextValueBytes) {
      return Invalid("field encryption_context has a value too long");
    }
    out.emplace(std::string(key), std::string(entry.get_string()));
  }
  return out;
}

}  // namespace kmsd::api
