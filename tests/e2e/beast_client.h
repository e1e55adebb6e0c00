// A small synchronous HTTP/1.1 client (Boost.Beast) for the e2e tests: one
// request per call on a fresh connection to 127.0.0.1:port.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kmsd::e2e {

struct Reply {
  unsigned status = 0;                         // 0 when the exchange failed (connect, read)
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& lowercase_name) const {
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Call {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::string bearer;                                        // Authorization: Bearer <bearer>
  std::string content_type = "application/json";             // sent only with a body
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
};

Reply Send(std::uint16_t port, const Call& call);

}  // namespace kmsd::e2e
