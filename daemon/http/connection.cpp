#include "daemon/http/connection.h"

#include <fmt/format.h>

namespace kmsd::http {

Response TransportErrorResponse(unsigned status, std::string_view code, std::string_view message) {
  Response response;
  response.status = status;
  // Code and message are fixed strings of ours: no escaping is needed.
  response.body = fmt::format(R"({{"error":{{"code":"{}","message":"{}"}}}})", code, message);
  return response;
}

void WipeString(std::string& s) noexcept {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

void WipeRequest(Request& request) noexcept {
  WipeString(request.body);
  request.headers.Wipe();
}

}  // namespace kmsd::http
