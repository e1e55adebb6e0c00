#include "cli/client/error.h"

#include <stdexcept>

namespace kmsd::client {

std::string_view ClientErrorKindName(ClientError::Kind kind) noexcept {
  switch (kind) {
    case ClientError::Kind::kHttp: return "http";
    case ClientError::Kind::kConnect: return "connect";
    case ClientError::Kind::kTimeout: return "timeout";
    case ClientError::Kind::kTls: return "tls";
    case ClientError::Kind::kProtocol: return "protocol";
    case ClientError::Kind::kInvalidArgument: return "invalid_argument";
  }
  return "unknown";
}

std::string Describe(const ClientError& error) {
  std::string text(ClientErrorKindName(error.kind));
  if (error.kind == ClientError::Kind::kHttp) {
    text += " " + std::to_string(error.status);
    if (!error.code.empty()) text += " " + error.code;
    if (!error.rule.empty()) text += " (rule " + error.rule + ")";
  }
  if (!error.message.empty()) text += ": " + error.message;
  return text;
}

void throw_exception_from_error(const ClientError& error, const boost::source_location&) {
  throw std::runtime_error(Describe(error));
}

}  // namespace kmsd::client
