// Every /v1 route's success path, tenant isolation and the decrypt token pair.
#include <openssl/evp.h>

#include <regex>

#include "common/time.h"
#include "tests/e2e/api_stack.h"

namespace kmsd::e2e {
namespace {

std::vector<std::uint8_t> DecodeBase64(const std::string& text) {
  std::vector<std::uint8_t> out(text.size());
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t size = static_cast<std::size_t>(n);
  if (text.size() >= 1 && text[text.size() - 1] == '=') --size;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

std::string Str(const boost::json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

using ApiFlowTest = ApiTest;

TEST_F(ApiFlowTest, GenerateThenDecryptReturnsTheSameKey) {
  const auto bearer = UserOf("acme");
  auto created = NewRecord(bearer, "recording", "rec-1");
  const auto context_id = Str(created, "context_id");
  // Generated ids are canonical UUIDv7 text.
  EXPECT_TRUE(std::regex_match(
      context_id,
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << context_id;
  const auto key_b64 = Str(created, "plaintext_key");
  EXPECT_EQ(key_b64.size(), 44u);  // 32 bytes, standard base64 with padding
  EXPECT_EQ(key_b64.back(), '=');
  EXPECT_EQ(DecodeBase64(key_b64).size(), 32u);
  EXPECT_GE(created.at("key_version").as_int64(), 1);
  EXPECT_TRUE(ParseRfc3339(Str(created, "created_at")));
  EXPECT_EQ(created.size(), 4u);

  auto authz = stack_->harness().Authz("acme", context_id);
  auto reply = Decrypt(bearer, context_id, authz);
  ASSERT_EQ(reply.status, 200u) << reply.body;
  auto body = Json(reply);
  EXPECT_EQ(Str(body, "context_id"), context_id);
  EXPECT_EQ(Str(body, "plaintext_key"), key_b64);
  EXPECT_EQ(Str(body, "asset_type"), "recording");
  EXPECT_EQ(Str(body, "asset_id"), "rec-1");
  EXPECT_EQ(Str(body, "created_at"), Str(created, "created_at"));
  EXPECT_EQ(reply.Header("cache-control"), "no-store");
  EXPECT_EQ(reply.Header("content-type"), "application/json");
}

TEST_F(ApiFlowTest, ClientContextIdWithSlashesIsAddressableRawAndPercentEncoded) {
  const auto bearer = AdminOf("acme");
  const std::string id = "media/2026/board-01";
  auto created = NewRecord(bearer, "recording", "board/01", id);
  EXPECT_EQ(Str(created, "context_id"), id);
  for (const std::string target :
       {"/v1/records/media/2026/board-01", "/v1/records/media%2F2026%2fboard-01"}) {
    auto reply = stack_->Send({.target = target, .bearer = bearer});
    ASSERT_EQ(reply.status, 200u) << target << " " << reply.body;
    auto body = Json(reply);
    EXPECT_EQ(Str(body, "context_id"), id);
    EXPECT_EQ(Str(body, "asset_id"), "board/01");
    EXPECT_EQ(Str(body, "state"), "active");
    EXPECT_FALSE(body.contains("plaintext_key"));
    EXPECT_FALSE(body.contains("wrapped_key"));
  }
}

TEST_F(ApiFlowTest, EncryptionContextIsAcceptedWhenWellFormed) {
  auto reply =
      Generate(UserOf("acme"), R"({"asset_type":"recording","asset_id":"a1",)"
                               R"("encryption_context":{"department":"legal","case":"42"}})");
  EXPECT_EQ(reply.status, 201u) << reply.body;
}

TEST_F(ApiFlowTest, DeleteMakesLaterDecryptsGone) {
  const auto admin = AdminOf("acme");
  auto created = NewRecord(admin, "recording", "rec-2");
  const auto id = Str(created, "context_id");
  auto deleted = stack_->Send({.method = "DELETE", .target = "/v1/records/" + id, .bearer = admin});
  EXPECT_EQ(deleted.status, 204u) << deleted.body;
  EXPECT_TRUE(deleted.body.empty());

  auto decrypt = Decrypt(admin, id, stack_->harness().Authz("acme", id));
  EXPECT_EQ(decrypt.status, 410u);
  EXPECT_EQ(ErrorCodeOf(decrypt), "key_destroyed");

  auto info = stack_->Send({.target = "/v1/records/" + id, .bearer = admin});
  ASSERT_EQ(info.status, 200u);
  EXPECT_EQ(Str(Json(info), "state"), "destroyed");
  EXPECT_TRUE(ParseRfc3339(Str(Json(info), "destroyed_at")));
}

TEST_F(ApiFlowTest, PolicyRoundTripEvaluateAndDenialWithRule) {
  const auto admin = AdminOf("acme");
  const std::string policy = R"({"default":"allow","rules":[{"id":"no-webinars","effect":"deny",)"
                             R"("operations":["decrypt"],"asset_types":["webinar_recording"]}]})";
  auto put =
      stack_->Send({.method = "PUT", .target = "/v1/policy", .body = policy, .bearer = admin});
  ASSERT_EQ(put.status, 200u) << put.body;
  const auto put_body = Json(put);
  EXPECT_GE(put_body.at("version").as_int64(), 1);
  EXPECT_EQ(Str(put_body, "default"), "allow");

  auto get = stack_->Send({.target = "/v1/policy", .bearer = admin});
  ASSERT_EQ(get.status, 200u);
  EXPECT_EQ(Json(get).at("version"), put_body.at("version"));
  EXPECT_EQ(Json(get).at("rules").as_array().size(), 1u);

  auto evaluate =
      stack_->Send({.method = "POST",
                    .target = "/v1/policy/evaluate",
                    .body = R"({"operation":"decrypt","principal":"bob","roles":["decrypt"],)"
                            R"("asset_type":"webinar_recording","asset_id":"w1",)"
                            R"("asset_created_at":"2026-01-02T00:00:00Z"})",
                    .bearer = admin});
  ASSERT_EQ(evaluate.status, 200u) << evaluate.body;
  EXPECT_EQ(Str(Json(evaluate), "effect"), "deny");
  EXPECT_EQ(Str(Json(evaluate), "decision"), "deny");
  EXPECT_EQ(Str(Json(evaluate), "rule"), "no-webinars");

  // Bad facts (an unknown field, a duplicate key): 400 with every problem.
  for (const std::string body :
       {R"({"operation":"decrypt","asset_type":"r","asset_id":"a","colour":1})",
        R"({"operation":"decrypt","operation":"encrypt","asset_type":"r","asset_id":"a"})"}) {
    auto bad = stack_->Send(
        {.method = "POST", .target = "/v1/policy/evaluate", .body = body, .bearer = admin});
    EXPECT_EQ(bad.status, 400u) << body;
    const auto error = Json(bad).at("error").as_object();
    EXPECT_FALSE(error.at("problems").as_array().empty()) << bad.body;
  }

  auto created = NewRecord(admin, "webinar_recording", "w1");
  const auto id = Str(created, "context_id");
  auto denied = Decrypt(admin, id, stack_->harness().Authz("acme", id));
  EXPECT_EQ(denied.status, 403u);
  EXPECT_EQ(ErrorCodeOf(denied), "policy_denied");
  EXPECT_EQ(Str(Json(denied).at("error").as_object(), "rule"), "no-webinars");
}

TEST_F(ApiFlowTest, RejectedPolicyListsProblemsAndKeepsThePrevious) {
  const auto admin = AdminOf("acme");
  auto before = stack_->Send({.target = "/v1/policy", .bearer = admin});
  ASSERT_EQ(before.status, 200u);
  auto bad = stack_->Send({.method = "PUT",
                           .target = "/v1/policy",
                           .body = R"({"default":"maybe","rules":[{"id":"x","effect":"deny"}]})",
                           .bearer = admin});
  ASSERT_EQ(bad.status, 400u);
  EXPECT_EQ(ErrorCodeOf(bad), "invalid_request");
  const auto bad_body = Json(bad);
  const auto& problems = bad_body.at("error").at("problems").as_array();
  ASSERT_FALSE(problems.empty());
  for (const auto& p : problems) {
    EXPECT_TRUE(p.as_object().contains("path"));
    EXPECT_TRUE(p.as_object().contains("code"));
    EXPECT_TRUE(p.as_object().contains("message"));
  }
  auto after = stack_->Send({.target = "/v1/policy", .bearer = admin});
  EXPECT_EQ(after.body, before.body);
}

TEST_F(ApiFlowTest, KeysListAndRotate) {
  const auto admin = AdminOf("acme");
  NewRecord(admin, "recording", "k1");  // provisions the tenant's first KEK
  auto list = stack_->Send({.target = "/v1/keys", .bearer = admin});
  ASSERT_EQ(list.status, 200u) << list.body;
  const auto before = Json(list).at("keys").as_array().size();
  ASSERT_GE(before, 1u);

  auto rotated = stack_->Send({.method = "POST", .target = "/v1/keys/rotate", .bearer = admin});
  ASSERT_EQ(rotated.status, 200u) << rotated.body;
  EXPECT_EQ(Str(Json(rotated), "state"), "current");
  auto again = stack_->Send({.target = "/v1/keys", .bearer = admin});
  const auto again_body = Json(again);
  const auto& keys = again_body.at("keys").as_array();
  EXPECT_EQ(keys.size(), before + 1);
  // The rotate reply carries the same list: the tenant's versions after it.
  EXPECT_EQ(Json(rotated).at("keys").as_array(), keys);

  auto created = NewRecord(admin, "recording", "k2");
  EXPECT_EQ(created.at("key_version"), Json(rotated).at("version"));
}

// Rotation, then rewrap moves every record to the current version (old ones
// still decrypt), then the retired version is destroyed; destroying the
// current one or one in use without force is a conflict.
TEST_F(ApiFlowTest, RewrapThenDestroyTheOldKeyVersion) {
  const auto admin = AdminOf("acme");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(Str(NewRecord(admin, "recording", "rw-" + std::to_string(i)), "context_id"));
  auto rotated = stack_->Send({.method = "POST", .target = "/v1/keys/rotate", .bearer = admin});
  ASSERT_EQ(rotated.status, 200u) << rotated.body;
  const auto current = Json(rotated).at("version").as_int64();

  auto in_use = stack_->Send({.method = "DELETE", .target = "/v1/keys/1", .bearer = admin});
  EXPECT_EQ(in_use.status, 409u) << in_use.body;
  auto current_refused = stack_->Send(
      {.method = "DELETE", .target = "/v1/keys/" + std::to_string(current), .bearer = admin});
  EXPECT_EQ(current_refused.status, 409u) << current_refused.body;
  for (const std::string version : {"one", "01", "0", "4294967296"}) {
    auto bad = stack_->Send({.method = "DELETE", .target = "/v1/keys/" + version, .bearer = admin});
    EXPECT_EQ(bad.status, 400u) << version;
  }
  auto bad_query =
      stack_->Send({.method = "DELETE", .target = "/v1/keys/1?force=yes", .bearer = admin});
  EXPECT_EQ(bad_query.status, 400u);
  auto bad_batch = stack_->Send(
      {.method = "POST", .target = "/v1/keys/rewrap", .body = R"({"batch":0})", .bearer = admin});
  EXPECT_EQ(bad_batch.status, 400u);

  auto step = stack_->Send(
      {.method = "POST", .target = "/v1/keys/rewrap", .body = R"({"batch":2})", .bearer = admin});
  ASSERT_EQ(step.status, 200u) << step.body;
  EXPECT_EQ(Json(step).at("rewrapped").as_int64(), 2);
  EXPECT_EQ(Json(step).at("remaining").as_int64(), 1);
  auto last = stack_->Send({.method = "POST", .target = "/v1/keys/rewrap", .bearer = admin});
  ASSERT_EQ(last.status, 200u) << last.body;
  EXPECT_EQ(Json(last).at("remaining").as_int64(), 0);
  for (const auto& id : ids) {
    auto info = stack_->Send({.target = "/v1/records/" + id, .bearer = admin});
    EXPECT_EQ(Json(info).at("key_version").as_int64(), current) << id;
    EXPECT_EQ(Decrypt(admin, id, stack_->harness().Authz("acme", id)).status, 200u) << id;
  }

  auto destroyed = stack_->Send({.method = "DELETE", .target = "/v1/keys/1", .bearer = admin});
  ASSERT_EQ(destroyed.status, 200u) << destroyed.body;
  EXPECT_EQ(Json(destroyed).at("records_shredded").as_int64(), 0);
  // Idempotent: a repeated DELETE finishes a destruction cut short, shreds nothing more.
  auto again = stack_->Send({.method = "DELETE", .target = "/v1/keys/1", .bearer = admin});
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(Json(again).at("records_shredded").as_int64(), 0);
  const auto listed = Json(stack_->Send({.target = "/v1/keys", .bearer = admin}));
  EXPECT_EQ(Str(listed.at("keys").as_array().at(0).as_object(), "state"), "destroyed");
  EXPECT_EQ(Decrypt(admin, ids[0], stack_->harness().Authz("acme", ids[0])).status, 200u);

  // Forced: a record still under a version is shredded with it.
  const auto orphan = Str(NewRecord(admin, "recording", "rw-forced"), "context_id");
  ASSERT_EQ(stack_->Send({.method = "POST", .target = "/v1/keys/rotate", .bearer = admin}).status,
            200u);
  auto forced = stack_->Send({.method = "DELETE",
                              .target = "/v1/keys/" + std::to_string(current) + "?force=true",
                              .bearer = admin});
  ASSERT_EQ(forced.status, 200u) << forced.body;
  EXPECT_EQ(Json(forced).at("records_shredded").as_int64(), 4);
  EXPECT_EQ(Decrypt(admin, orphan, stack_->harness().Authz("acme", orphan)).status, 410u);

  const auto user = UserOf("acme");
  EXPECT_EQ(stack_->Send({.method = "POST", .target = "/v1/keys/rewrap", .bearer = user}).status,
            403u);
}

TEST_F(ApiFlowTest, AuditShowsOnlyTheCallersTenant) {
  const auto acme = AdminOf("acme");
  const auto globex = AdminOf("globex");
  NewRecord(acme, "recording", "a1");
  NewRecord(globex, "recording", "g1");
  NewRecord(globex, "recording", "g2");

  auto reply = stack_->Send({.target = "/v1/audit?after=0&limit=100", .bearer = acme});
  ASSERT_EQ(reply.status, 200u) << reply.body;
  int generates = 0;
  const auto acme_body = Json(reply);
  for (const auto& event : acme_body.at("events").as_array()) {
    const auto& e = event.as_object();
    EXPECT_EQ(Str(e, "tenant"), "acme");
    EXPECT_NE(Str(e, "asset_id"), "g1");
    EXPECT_NE(Str(e, "asset_id"), "g2");
    if (Str(e, "operation") == "generate") {
      ++generates;
      EXPECT_EQ(Str(e, "asset_id"), "a1");
      EXPECT_EQ(Str(e, "outcome"), "ok");
    }
  }
  EXPECT_EQ(generates, 1);

  // Paging with limit=1 walks the same events as one big page.
  auto all = stack_->Send({.target = "/v1/audit", .bearer = globex});
  ASSERT_EQ(all.status, 200u);
  const auto all_body = Json(all);
  const auto& expected = all_body.at("events").as_array();
  ASSERT_GE(expected.size(), 2u);
  std::int64_t after = 0;
  boost::json::array walked;
  for (std::size_t i = 0; i <= expected.size(); ++i) {
    auto page = stack_->Send(
        {.target = "/v1/audit?limit=1&after=" + std::to_string(after), .bearer = globex});
    ASSERT_EQ(page.status, 200u);
    const auto body = Json(page);
    const auto& events = body.at("events").as_array();
    ASSERT_LE(events.size(), 1u);
    if (events.empty()) break;
    walked.push_back(events[0]);
    after = body.at("next_after").as_int64();
  }
  EXPECT_EQ(walked, expected);
  auto bad = stack_->Send({.target = "/v1/audit?limit=0", .bearer = globex});
  EXPECT_EQ(bad.status, 400u);
  auto unknown = stack_->Send({.target = "/v1/audit?tenant=acme", .bearer = globex});
  EXPECT_EQ(unknown.status, 400u);
}

TEST_F(ApiFlowTest, DecryptNeedsAValidPairOfTokens) {
  const auto bearer = UserOf("acme");
  const auto id = Str(NewRecord(bearer, "recording", "pair"), "context_id");

  // Valid authorization token, bad bearer: 401 and the authz token is not burnt.
  const auto authz = stack_->harness().Authz("acme", id);
  auto forged = Decrypt(stack_->ForgedBearer("acme", "alice", {"decrypt"}), id, authz);
  EXPECT_EQ(forged.status, 401u);
  // Valid bearer, authorization token for another context: 403.
  auto wrong_ctx = Decrypt(bearer, id, stack_->harness().Authz("acme", "other-context"));
  EXPECT_EQ(wrong_ctx.status, 403u);
  EXPECT_EQ(ErrorCodeOf(wrong_ctx), "invalid_authorization_token");
  // Valid bearer, garbage authorization token: 403.
  auto garbage = Decrypt(bearer, id, "a.b.c");
  EXPECT_EQ(ErrorCodeOf(garbage), "invalid_authorization_token");
  // The pair: 200, once; the same jti again is a replay.
  EXPECT_EQ(Decrypt(bearer, id, authz).status, 200u);
  auto replay = Decrypt(bearer, id, authz);
  EXPECT_EQ(replay.status, 403u);
  EXPECT_EQ(ErrorCodeOf(replay), "invalid_authorization_token");
}

TEST_F(ApiFlowTest, TenantACannotSeeOrDecryptTenantB) {
  const auto b_admin = AdminOf("tenant-b");
  const auto b_id = Str(NewRecord(b_admin, "recording", "secret"), "context_id");
  const auto a_admin = AdminOf("tenant-a");

  // A's own data holder signs for B's context id: verifies for A, but A has no such record.
  auto with_a_authz = Decrypt(a_admin, b_id, stack_->harness().Authz("tenant-a", b_id));
  EXPECT_EQ(with_a_authz.status, 404u);
  EXPECT_EQ(ErrorCodeOf(with_a_authz), "not_found");
  // B's genuine authorization token presented by A: refused (tenant claim).
  auto with_b_authz = Decrypt(a_admin, b_id, stack_->harness().Authz("tenant-b", b_id));
  EXPECT_EQ(with_b_authz.status, 403u);
  EXPECT_EQ(ErrorCodeOf(with_b_authz), "invalid_authorization_token");
  EXPECT_EQ(with_b_authz.body.find("plaintext_key"), std::string::npos);

  auto look = stack_->Send({.target = "/v1/records/" + b_id, .bearer = a_admin});
  EXPECT_EQ(look.status, 404u);
  auto destroy =
      stack_->Send({.method = "DELETE", .target = "/v1/records/" + b_id, .bearer = a_admin});
  EXPECT_EQ(destroy.status, 404u);
  // Still intact for B.
  EXPECT_EQ(Decrypt(b_admin, b_id, stack_->harness().Authz("tenant-b", b_id)).status, 200u);
}

TEST_F(ApiFlowTest, SameContextIdInTwoTenantsAreIndependent) {
  auto a = NewRecord(AdminOf("tenant-a"), "recording", "x", "shared-id");
  auto b = NewRecord(AdminOf("tenant-b"), "recording", "y", "shared-id");
  EXPECT_NE(Str(a, "plaintext_key"), Str(b, "plaintext_key"));
}

}  // namespace
}  // namespace kmsd::e2e
