#include "cli/kmsctl/exit_codes.h"

#include <gtest/gtest.h>

namespace kmsd::kmsctl {
namespace {

using client::ClientError;

ClientError Http(int status, std::string code, std::string rule = {}) {
  return ClientError{
      ClientError::Kind::kHttp, status, std::move(code), "server says", std::move(rule), 1, {}};
}
ClientError Local(ClientError::Kind kind) { return ClientError{kind, 0, {}, "detail", {}, 1, {}}; }

TEST(ExitCodesTest, HttpStatusesMapToTheirClass) {
  struct Case {
    int status;
    const char* code;
    int exit;
  };
  for (const Case& c : std::initializer_list<Case>{
           {400, "invalid_request", kExitRequest},
           {401, "unauthenticated", kExitRefused},
           {403, "forbidden", kExitRefused},
           {403, "invalid_authorization_token", kExitRefused},
           {403, "policy_denied", kExitRefused},
           {404, "not_found", kExitRefused},
           {409, "conflict", kExitRequest},
           {410, "key_destroyed", kExitRefused},
           {413, "payload_too_large", kExitRequest},
           {429, "rate_limited", kExitUnavailable},
           {431, "", kExitRequest},
           {500, "internal", kExitOther},
           {500, "integrity_error", kExitIntegrity},
           {502, "", kExitUnavailable},
           {503, "hsm_unavailable", kExitUnavailable},
           {503, "store_unavailable", kExitUnavailable},
           {504, "", kExitUnavailable},
       }) {
    EXPECT_EQ(ExitCodeFor(Http(c.status, c.code)), c.exit) << c.status << " " << c.code;
  }
}

TEST(ExitCodesTest, TransportFailuresMapToTheirClass) {
  EXPECT_EQ(ExitCodeFor(Local(ClientError::Kind::kConnect)), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Local(ClientError::Kind::kTimeout)), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(Local(ClientError::Kind::kTls)), kExitRefused);
  EXPECT_EQ(ExitCodeFor(Local(ClientError::Kind::kProtocol)), kExitOther);
  EXPECT_EQ(ExitCodeFor(Local(ClientError::Kind::kInvalidArgument)), kExitUsage);
}

TEST(ExitCodesTest, LocalErrorsMapToTheirClass) {
  EXPECT_EQ(ExitCodeFor(MakeError(ErrorCode::kIntegrity, "x")), kExitIntegrity);
  EXPECT_EQ(ExitCodeFor(MakeError(ErrorCode::kInvalidArgument, "x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(MakeError(ErrorCode::kInvalidArgument, "x"), true), kExitIntegrity);
  EXPECT_EQ(ExitCodeFor(MakeError(ErrorCode::kInternal, "x")), kExitOther);
  EXPECT_EQ(ExitCodeFor(MakeError(ErrorCode::kNotFound, "x")), kExitOther);
}

// Each class's message names the daemon, the status and code, and the next
// step a person can take.
TEST(ExitCodesTest, MessagesNameTheDaemonStatusAndNextStep) {
  const std::string url = "http://127.0.0.1:8200";
  struct Case {
    ClientError error;
    std::vector<std::string> must_contain;
  };
  auto busy = Http(503, "hsm_unavailable");
  busy.attempts = 4;
  auto reused = Http(409, "conflict");
  reused.message = "context id already used in this tenant";
  auto kek_in_use = Http(409, "conflict");
  kek_in_use.message = "KEK version still protects active records";
  const std::vector<Case> cases{
      {Http(401, "unauthenticated"), {url, "401 unauthenticated", "kmsctl dev token"}},
      {Http(403, "forbidden"), {url, "403 forbidden", "role"}},
      {Http(403, "invalid_authorization_token"), {"403 invalid_authorization_token", "dev authz"}},
      {Http(403, "policy_denied", "no-webinars"),
       {"policy_denied", "rule no-webinars", "policy get"}},
      {Http(404, "not_found"), {"404 not_found", "context id"}},
      {reused, {"409 conflict", "choose another"}},
      {kek_in_use, {"409 conflict", "--force", "keys list"}},
      {Http(410, "key_destroyed"), {"410 key_destroyed", "unrecoverable"}},
      {Http(400, "invalid_request"), {"400 invalid_request"}},
      {busy, {"503 hsm_unavailable", "4 attempt", "/readyz"}},
      {Http(500, "integrity_error"), {"integrity_error", "altered"}},
      {Local(ClientError::Kind::kConnect), {url, "kmsd --dev"}},
      {Local(ClientError::Kind::kTimeout), {url, "in time"}},
      {Local(ClientError::Kind::kTls), {url, "--ca-file"}},
  };
  for (const auto& c : cases) {
    const std::string message = MessageFor(c.error, url);
    for (const auto& part : c.must_contain) {
      EXPECT_NE(message.find(part), std::string::npos) << message << " lacks " << part;
    }
  }
}

}  // namespace
}  // namespace kmsd::kmsctl
