// The XKS front's request bodies and replies: parsing and validation of the
// JSON the specification defines, and the error mapping into replies.
// Internal to kmsd_xks (xks_handler.cpp is its only user).
#pragma once

#include <boost/json.hpp>
#include <boost/system/result.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http/handler.h"
#include "daemon/xks/xks_handler.h"

namespace kmsd::xks::request {

using Bytes = std::vector<std::uint8_t>;

// A failure on its way to the reply: the XKS error and a message built from
// field names and codes only (never request bytes).
struct Failure {
  XksError error;
  std::string message;
};

template <class T>
using XResult = boost::system::result<T, Failure>;

inline Failure Fail(XksError error, std::string message) { return {error, std::move(message)}; }

enum class Route { kHealth, kMetadata, kEncrypt, kDecrypt };

bool ContentTypeIsJson(const http::Headers& headers);

// The request body, parsed: requestMetadata checked per route.
struct Body {
  boost::json::object object;
  std::string principal;  // awsPrincipalArn (may be empty for health)
  std::string kms_key_arn;
  std::string kms_operation;
  std::string kms_request_id;
};

XResult<Body> ParseBody(std::string_view text, Route route);
// A top-level string field; nullopt when absent.
XResult<std::optional<std::string_view>> StringField(const Body& body, std::string_view name);
XResult<std::string_view> RequiredString(const Body& body, std::string_view name);
// Base64 of an optional field; absent → empty. `bad` is the error for text
// that is not canonical base64.
XResult<Bytes> OptionalBase64(const Body& body, std::string_view name, XksError bad);
XResult<void> CheckAlgorithm(const Body& body);
// The AAD handed to the token: 2-byte length, AAD, 1-byte length, metadata.
Bytes EffectiveAad(std::span<const std::uint8_t> aad, std::span<const std::uint8_t> metadata);

http::Response ErrorReply(const Failure& failure);

}  // namespace kmsd::xks::request
