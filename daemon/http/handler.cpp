#include "daemon/http/handler.h"

#include <openssl/crypto.h>

#include <boost/beast/core/string.hpp>

namespace kmsd::http {

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const auto& [n, v] : fields_) {
    if (boost::beast::iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

Response NoStoreReply(unsigned status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  response.headers.Add("Cache-Control", "no-store");
  return response;
}

void Headers::Wipe() noexcept {
  for (auto& field : fields_) {
    if (!field.second.empty()) OPENSSL_cleanse(field.second.data(), field.second.size());
  }
  fields_.clear();
}

}  // namespace kmsd::http
