#include "daemon/http/connection.h"

#include <fmt/format.h>

namespace kmsd::http {

Response TransportErrorResponse(unsigned status, std::string_view code, std::string_view message) {
  // Code and message are fixed strings of ours: no escaping is needed. The
  // route may not be known yet (431, 413), so every such reply is no-store,
  // as the API's own replies are.
  return NoStoreReply(status,
                      fmt::format(R"({{"error":{{"code":"{}","message":"{}"}}}})", code, message));
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
