// The trivial handler the transport tests run behind the real server.
// Behaviour by target:
//   /echo   200, body = request body; X-Seen-Request-Id = the id it was given
//   /sleep  sleeps one second, then 200 "slept"
//   /throw  throws an exception whose text must never reach the client
//   /peer   200, body = "cn|fingerprint|san,san"
#pragma once

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "daemon/http/handler.h"

namespace kmsd::http::testing {

inline constexpr const char* kSecretExceptionText = "exception-detail-do-not-leak";

class EchoHandler : public Handler {
 public:
  Response Handle(const Request& request) override {
    calls.fetch_add(1);
    Response response;
    response.content_type = "text/plain";
    response.headers.Add("X-Seen-Request-Id", request.request_id);
    if (request.target == "/sleep") {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      response.body = "slept";
    } else if (request.target == "/throw") {
      throw std::runtime_error(kSecretExceptionText);
    } else if (request.target == "/peer") {
      std::string sans;
      for (const auto& san : request.peer.subject_alt_names)
        sans += (sans.empty() ? "" : ",") + san;
      response.body = request.peer.subject_cn + "|" + request.peer.sha256_fingerprint + "|" + sans;
    } else {
      response.body = request.body;
    }
    return response;
  }

  std::atomic<int> calls{0};
};

}  // namespace kmsd::http::testing
