// Every error status of the contract, provoked over real HTTP.
#include <gmock/gmock.h>
#include <sqlite3.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "broker/audit/audit_files.h"
#include "broker/audit/chain.h"
#include "common/scope_guard.h"
#include "tests/e2e/api_stack.h"

namespace kmsd::e2e {
namespace {

using ApiErrorTest = ApiTest;

TEST_F(ApiErrorTest, MalformedBodiesAreInvalidRequest) {
  const auto bearer = UserOf("acme");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", R"({"asset_type":"recording",)"},
      {"duplicate key", R"({"asset_type":"recording","asset_id":"a","asset_id":"b"})"},
      {"unknown field", R"({"asset_type":"recording","asset_id":"a","tenant":"other"})"},
      {"wrong type", R"({"asset_type":"recording","asset_id":7})"},
      {"missing field", R"({"asset_type":"recording"})"},
      {"not an object", R"(["recording","a"])"},
      {"invalid utf-8", "{\"asset_type\":\"recording\",\"asset_id\":\"\xC3\x28\"}"},
      {"bad context id", R"({"asset_type":"recording","asset_id":"a","context_id":"has space"})"},
      {"encryption_context not strings",
       R"({"asset_type":"recording","asset_id":"a","encryption_context":{"k":1}})"},
  };
  for (const auto& [name, body] : cases) {
    auto reply = Generate(bearer, body);
    EXPECT_EQ(reply.status, 400u) << name;
    EXPECT_EQ(ErrorCodeOf(reply), "invalid_request") << name;
  }
  // Empty body where one is required.
  auto empty = stack_->Send({.method = "POST", .target = "/v1/datakeys", .bearer = bearer});
  EXPECT_EQ(empty.status, 400u);
  // Wrong content type.
  auto text = stack_->Send({.method = "POST",
                            .target = "/v1/datakeys",
                            .body = R"({"asset_type":"recording","asset_id":"a"})",
                            .bearer = bearer,
                            .content_type = "text/plain"});
  EXPECT_EQ(text.status, 400u);
  EXPECT_EQ(ErrorCodeOf(text), "invalid_request");
  // A bad percent-encoding in a path context id.
  auto bad_path = stack_->Send({.target = "/v1/records/abc%zz", .bearer = bearer});
  EXPECT_EQ(bad_path.status, 400u);
  EXPECT_EQ(ErrorCodeOf(bad_path), "invalid_request");
  // GET routes take no body, the audit listing included.
  const auto admin = AdminOf("acme");
  for (const std::string target : {"/v1/audit", "/v1/keys", "/v1/policy"}) {
    auto with_body = stack_->Send({.target = target, .body = "{}", .bearer = admin});
    EXPECT_EQ(with_body.status, 400u) << target << " " << with_body.body;
    EXPECT_EQ(ErrorCodeOf(with_body), "invalid_request") << target;
  }
}

TEST_F(ApiErrorTest, MissingForgedOrExpiredBearerIsUnauthenticated) {
  const std::string body = R"({"asset_type":"recording","asset_id":"a"})";
  auto missing = Generate("", body);
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(ErrorCodeOf(missing), "unauthenticated");
  EXPECT_EQ(missing.Header("www-authenticate").rfind("Bearer", 0), 0u);

  auto forged = Generate(stack_->ForgedBearer("acme", "alice", {"encrypt"}), body);
  EXPECT_EQ(forged.status, 401u);
  EXPECT_EQ(ErrorCodeOf(forged), "unauthenticated");
  EXPECT_NE(forged.Header("www-authenticate").find("invalid_token"), std::string::npos);

  auto expired =
      Generate(stack_->Bearer("acme", "alice", {"encrypt"}, std::chrono::seconds(-3600)), body);
  EXPECT_EQ(expired.status, 401u);
  EXPECT_EQ(ErrorCodeOf(expired), "unauthenticated");

  // Two Authorization fields, the valid one first: refused as ambiguous.
  auto doubled = stack_->Send({.method = "POST",
                               .target = "/v1/datakeys",
                               .body = body,
                               .headers = {{"Authorization", "Bearer " + UserOf("acme")},
                                           {"Authorization", "Bearer garbage"}}});
  EXPECT_EQ(doubled.status, 401u) << doubled.body;
  EXPECT_EQ(ErrorCodeOf(doubled), "unauthenticated");

  auto basic = stack_->Send({.method = "POST",
                             .target = "/v1/datakeys",
                             .body = body,
                             .headers = {{"Authorization", "Basic YWxpY2U6cHc="}}});
  EXPECT_EQ(basic.status, 401u);

  // Each refusal is an authn_failure audit event without identity, whose
  // reason names the category and never carries the token.
  std::vector<std::string> reasons;
  for (const auto& file : audit::ListAuditFiles(stack_->dir().path() / "audit")) {
    std::ifstream in(file.path);
    for (std::string line; std::getline(in, line);) {
      auto parsed = audit::ParseLine(line);
      ASSERT_TRUE(parsed) << line;
      if (parsed->type != audit::LineType::kEvent) continue;
      const audit::AuditEvent& event = parsed->event;
      if (event.operation != audit::Operation::kAuthnFailure) continue;
      EXPECT_TRUE(event.tenant.empty());
      EXPECT_EQ(event.error, ErrorCode::kUnauthenticated);
      EXPECT_EQ(line.find("eyJ"), std::string::npos) << "token bytes in the audit log: " << line;
      reasons.push_back(event.reason);
    }
  }
  EXPECT_EQ(reasons.size(), 5u);
  EXPECT_THAT(reasons, ::testing::Contains(::testing::HasSubstr("more than one Authorization")));
  EXPECT_THAT(reasons, ::testing::Contains(::testing::HasSubstr("bad signature")));
  EXPECT_THAT(reasons, ::testing::Contains(::testing::HasSubstr("expired")));
}

TEST_F(ApiErrorTest, RoleMissingIsForbidden) {
  const auto decrypt_only = stack_->Bearer("acme", "bob", {"decrypt"});
  auto generate = Generate(decrypt_only, R"({"asset_type":"recording","asset_id":"a"})");
  EXPECT_EQ(generate.status, 403u);
  EXPECT_EQ(ErrorCodeOf(generate), "forbidden");

  const auto user = UserOf("acme");
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/policy"},
                                                        {"GET", "/v1/keys"},
                                                        {"POST", "/v1/keys/rotate"},
                                                        {"GET", "/v1/audit"}}) {
    auto reply = stack_->Send({.method = method, .target = target, .bearer = user});
    EXPECT_EQ(reply.status, 403u) << target;
    EXPECT_EQ(ErrorCodeOf(reply), "forbidden") << target;
  }
}

TEST_F(ApiErrorTest, UnknownRoutesAndContextsAreNotFoundAndWrongMethodIs405) {
  const auto admin = AdminOf("acme");
  for (const std::string target : {"/v2/datakeys", "/v1/datakey", "/", "/v1/records/"}) {
    auto reply = stack_->Send({.target = target, .bearer = admin});
    EXPECT_EQ(reply.status, 404u) << target;
    EXPECT_EQ(ErrorCodeOf(reply), "not_found") << target;
  }
  auto unknown = stack_->Send({.target = "/v1/records/no-such-id", .bearer = admin});
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(ErrorCodeOf(unknown), "not_found");

  auto wrong = stack_->Send({.method = "GET", .target = "/v1/datakeys", .bearer = admin});
  EXPECT_EQ(wrong.status, 405u);
  EXPECT_EQ(wrong.Header("allow"), "POST");
  EXPECT_EQ(ErrorCodeOf(wrong), "method_not_allowed");
  auto put_record = stack_->Send({.method = "PUT", .target = "/v1/records/x", .bearer = admin});
  EXPECT_EQ(put_record.status, 405u);
  EXPECT_EQ(put_record.Header("allow"), "GET, DELETE");
}

TEST_F(ApiErrorTest, ReusedContextIdIsConflict) {
  const auto bearer = UserOf("acme");
  NewRecord(bearer, "recording", "a", "dup-id");
  auto again =
      Generate(bearer, R"({"asset_type":"recording","asset_id":"b","context_id":"dup-id"})");
  EXPECT_EQ(again.status, 409u);
  EXPECT_EQ(ErrorCodeOf(again), "conflict");
}

TEST_F(ApiErrorTest, BodyLimitIsInclusive) {
  const auto bearer = UserOf("acme");
  const std::string core = R"({"asset_type":"recording","asset_id":"limit"})";
  auto padded = [&](std::size_t total) {
    std::string body = core;
    body.insert(body.size() - 1, total - core.size(), ' ');  // JSON whitespace before '}'
    return body;
  };
  auto at_limit = Generate(bearer, padded(65536));
  EXPECT_EQ(at_limit.status, 201u) << at_limit.body;
  auto over = Generate(bearer, padded(65537));
  EXPECT_EQ(over.status, 413u);
  EXPECT_EQ(ErrorCodeOf(over), "payload_too_large");
}

TEST_F(ApiErrorTest, XRequestIdIsEchoedOrGenerated) {
  auto echoed = stack_->Send({.target = "/healthz", .headers = {{"X-Request-Id", "req-abc-123"}}});
  EXPECT_EQ(echoed.Header("x-request-id"), "req-abc-123");
  auto generated = stack_->Send({.target = "/healthz"});
  EXPECT_FALSE(generated.Header("x-request-id").empty());
  auto error = stack_->Send({.target = "/nope", .headers = {{"X-Request-Id", "req-err"}}});
  EXPECT_EQ(error.Header("x-request-id"), "req-err");
}

TEST_F(ApiErrorTest, StoreLockedIsStoreUnavailable) {
  const auto bearer = UserOf("acme");
  NewRecord(bearer, "recording", "warm");  // KEK exists: the next generate only writes a record
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(stack_->harness().db_path().c_str(), &db), SQLITE_OK);
  ScopeGuard close([&] { sqlite3_close(db); });
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  // The store waits busy_timeout (5 s in the harness) for the lock, then gives up.
  auto reply = Generate(bearer, R"({"asset_type":"recording","asset_id":"locked"})");
  EXPECT_EQ(reply.status, 503u) << reply.body;
  EXPECT_EQ(ErrorCodeOf(reply), "store_unavailable");
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace
}  // namespace kmsd::e2e
