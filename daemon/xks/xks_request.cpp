#include "daemon/xks/xks_request.h"

#include <algorithm>
#include <cctype>

#include "common/base64.h"
#include "common/json/strict_json.h"

namespace kmsd::xks::request {

namespace json = boost::json;

bool ContentTypeIsJson(const http::Headers& headers) {
  const auto value = headers.Get("Content-Type");
  if (!value) return false;
  std::string media(value->substr(0, value->find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  while (!media.empty() && media.front() == ' ') media.erase(media.begin());
  std::transform(media.begin(), media.end(), media.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return media == "application/json";
}

XResult<Body> ParseBody(std::string_view text, Route route) {
  auto parsed = kmsd::json::ParseStrictJson(text);
  if (!parsed) return Fail(XksError::kValidation, "body is not strict JSON");
  if (!parsed->is_object()) return Fail(XksError::kValidation, "body must be a JSON object");
  Body body;
  body.object = std::move(parsed->as_object());
  const json::value* meta = body.object.if_contains("requestMetadata");
  if (meta == nullptr || !meta->is_object()) {
    return Fail(XksError::kValidation, "requestMetadata must be an object");
  }
  const json::object& m = meta->as_object();
  // Unknown requestMetadata fields are accepted: KMS may add fields
  // (specification, Appendix B).
  auto field = [&](std::string_view name, bool required, std::string& out) -> XResult<void> {
    const json::value* v = m.if_contains(name);
    if (v == nullptr) {
      if (required)
        return Fail(XksError::kValidation, "requestMetadata." + std::string(name) + " is required");
      return {};
    }
    if (!v->is_string() || v->as_string().size() > kMaxMetadataString ||
        (required && v->as_string().empty())) {
      return Fail(XksError::kValidation,
                  "requestMetadata." + std::string(name) + " must be a string of 1..2048 bytes");
    }
    out = std::string(v->as_string());
    return {};
  };
  std::string ignored;
  const bool crypto = route == Route::kEncrypt || route == Route::kDecrypt;
  if (auto r = field("kmsRequestId", true, body.kms_request_id); !r) return r.error();
  if (auto r = field("kmsOperation", true, body.kms_operation); !r) return r.error();
  if (auto r = field("awsPrincipalArn", route != Route::kHealth, body.principal); !r)
    return r.error();
  if (auto r = field("kmsKeyArn", crypto, body.kms_key_arn); !r) return r.error();
  for (std::string_view optional : {"awsSourceVpc", "awsSourceVpce", "kmsViaService"}) {
    if (auto r = field(optional, false, ignored); !r) return r.error();
  }
  return body;
}

XResult<std::optional<std::string_view>> StringField(const Body& body, std::string_view name) {
  const json::value* v = body.object.if_contains(name);
  if (v == nullptr) return std::optional<std::string_view>();
  if (!v->is_string()) return Fail(XksError::kValidation, std::string(name) + " must be a string");
  return std::optional<std::string_view>(std::string_view(v->as_string()));
}

XResult<std::string_view> RequiredString(const Body& body, std::string_view name) {
  auto v = StringField(body, name);
  if (!v) return v.error();
  if (!*v || (*v)->empty()) return Fail(XksError::kValidation, std::string(name) + " is required");
  return **v;
}

XResult<Bytes> OptionalBase64(const Body& body, std::string_view name, XksError bad) {
  auto v = StringField(body, name);
  if (!v) return v.error();
  if (!*v) return Bytes{};
  auto bytes = Base64Decode(**v);
  if (!bytes) return Fail(bad, std::string(name) + " is not base64");
  return std::move(*bytes);
}

XResult<void> CheckAlgorithm(const Body& body) {
  auto algorithm = RequiredString(body, "encryptionAlgorithm");
  if (!algorithm) return algorithm.error();
  if (*algorithm != "AES_GCM") {
    return Fail(XksError::kUnsupportedOperation, "encryptionAlgorithm must be AES_GCM");
  }
  return {};
}

Bytes EffectiveAad(std::span<const std::uint8_t> aad, std::span<const std::uint8_t> metadata) {
  Bytes out;
  out.reserve(3 + aad.size() + metadata.size());
  out.push_back(static_cast<std::uint8_t>(aad.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(aad.size() & 0xFF));
  out.insert(out.end(), aad.begin(), aad.end());
  out.push_back(static_cast<std::uint8_t>(metadata.size()));
  out.insert(out.end(), metadata.begin(), metadata.end());
  return out;
}

http::Response ErrorReply(const Failure& failure) {
  const XksHttpError mapped = XksErrorToHttp(failure.error);
  std::string message = failure.error == XksError::kInternal ? "internal error" : failure.message;
  // Printable ASCII, under 512 characters (specification, "Error codes").
  for (char& c : message) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (message.size() > 500) message.resize(500);
  auto response = http::NoStoreReply(
      mapped.status,
      json::serialize(json::object{{"errorName", mapped.error_name}, {"errorMessage", message}}));
  if (failure.error == XksError::kMethodNotAllowed) response.headers.Add("Allow", "POST");
  return response;
}

}  // namespace kmsd::xks::request
