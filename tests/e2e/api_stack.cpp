#include "tests/e2e/api_stack.h"

#include "broker/jose/key_set.h"

namespace kmsd::e2e {
namespace {

std::int64_t UnixSeconds(Instant t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::unique_ptr<ApiStack> ApiStack::Create(testing::SoftHsmToken& token, api::ApiOptions options,
                                           std::string* error, StackExtras extras) {
  std::unique_ptr<ApiStack> s(new ApiStack());
  s->harness_ = testing::BrokerHarness::Create(s->dir_, token, nullptr, {}, error);
  if (!s->harness_) return nullptr;

  auto pem = jose::GeneratePrivateKeyPem(jose::Algorithm::kES256);
  auto rogue_pem = jose::GeneratePrivateKeyPem(jose::Algorithm::kES256);
  if (!pem || !rogue_pem) {
    *error = "idp key generation failed";
    return nullptr;
  }
  auto idp = jose::JwsSigner::FromPrivateKeyPem("idp-1", *pem, jose::Algorithm::kES256);
  auto rogue = jose::JwsSigner::FromPrivateKeyPem("idp-1", *rogue_pem, jose::Algorithm::kES256);
  if (!idp || !rogue) {
    *error = "idp signer failed";
    return nullptr;
  }
  s->idp_ = std::make_unique<jose::JwsSigner>(std::move(*idp));
  s->rogue_ = std::make_unique<jose::JwsSigner>(std::move(*rogue));
  boost::json::object jwks{{"keys", boost::json::array{s->idp_->PublicJwk().value()}}};
  auto keys = jose::KeySet::FromJwks(boost::json::serialize(jwks));
  if (!keys) {
    *error = "idp key set failed";
    return nullptr;
  }
  jose::IdentityVerifierConfig config;
  config.issuer = kIssuer;
  config.audience = kAudience;
  s->identity_ = std::make_unique<jose::IdentityVerifier>(
      config, std::make_shared<const jose::KeySet>(std::move(*keys)));

  auto* h = s->harness_.get();
  std::vector<api::ReadinessCheck> readiness;
  readiness.push_back({"token:primary", [h] { return h->keys().CheckHealth(); }});
  readiness.push_back({"store", [h]() -> Status {
                         auto found = h->store().Find("readiness", "probe");
                         if (found || found.error().code == ErrorCode::kNotFound) return {};
                         return found.error();
                       }});
  readiness.push_back({"audit", [h]() -> Status {
                         if (h->audit_log().Healthy()) return {};
                         return MakeError(ErrorCode::kAuditUnavailable, "audit sink unhealthy");
                       }});
  for (auto& extra : extras.readiness) readiness.push_back(std::move(extra));
  s->metrics_ = std::make_shared<api::Metrics>();
  s->handler_ = std::make_unique<api::ApiHandler>(
      std::move(options), api::ApiDependencies{.broker = h->broker(),
                                               .identity = *s->identity_,
                                               .audit_log = h->audit_log(),
                                               .clock = h->clock(),
                                               .client_certs = std::move(extras.client_certs),
                                               .readiness = std::move(readiness),
                                               .metrics = s->metrics_});

  http::ServerConfig server_config;
  http::ListenerConfig listener;
  listener.tls = extras.tls;
  server_config.listeners.push_back(listener);
  server_config.io_threads = 1;
  server_config.worker_threads = 4;
  s->server_ = std::make_unique<http::Server>(server_config, *s->handler_, s->metrics_.get());
  if (auto started = s->server_->Start(); !started) {
    *error = "server start: " + started.error().message;
    return nullptr;
  }
  return s;
}

ApiStack::~ApiStack() {
  if (server_) server_->Stop();
}

boost::json::object ApiStack::Claims(const std::string& tenant, const std::string& subject,
                                     const std::vector<std::string>& roles,
                                     std::chrono::seconds ttl) {
  const auto now = UnixSeconds(harness_->clock().Now());
  boost::json::array role_list;
  for (const auto& r : roles) role_list.emplace_back(r);
  return {{"iss", kIssuer},     {"aud", kAudience}, {"sub", subject},          {"tenant", tenant},
          {"roles", role_list}, {"iat", now},       {"exp", now + ttl.count()}};
}

std::string ApiStack::Bearer(const std::string& tenant, const std::string& subject,
                             const std::vector<std::string>& roles, std::chrono::seconds ttl) {
  return idp_->Sign(Claims(tenant, subject, roles, ttl)).value();
}

std::string ApiStack::ForgedBearer(const std::string& tenant, const std::string& subject,
                                   const std::vector<std::string>& roles) {
  return rogue_->Sign(Claims(tenant, subject, roles, std::chrono::hours(1))).value();
}

void ApiTest::SetUp() {
  KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
  std::string error;
  stack_ = ApiStack::Create(*token_, options_, &error);
  ASSERT_TRUE(stack_) << error;
}

void ApiTest::TearDown() { stack_.reset(); }

Reply ApiTest::Generate(const std::string& bearer, const std::string& body) {
  return stack_->Send({.method = "POST", .target = "/v1/datakeys", .body = body, .bearer = bearer});
}

boost::json::object ApiTest::NewRecord(const std::string& bearer, const std::string& asset_type,
                                       const std::string& asset_id, const std::string& context_id) {
  boost::json::object body{{"asset_type", asset_type}, {"asset_id", asset_id}};
  if (!context_id.empty()) body["context_id"] = context_id;
  auto reply = Generate(bearer, boost::json::serialize(body));
  EXPECT_EQ(reply.status, 201u) << reply.body;
  if (reply.status != 201) return {};
  return Json(reply);
}

Reply ApiTest::Decrypt(const std::string& bearer, const std::string& context_id,
                       const std::string& authz) {
  boost::json::object body{{"context_id", context_id}, {"authorization_token", authz}};
  return stack_->Send({.method = "POST",
                       .target = "/v1/datakeys/decrypt",
                       .body = boost::json::serialize(body),
                       .bearer = bearer});
}

std::string ApiTest::ErrorCodeOf(const Reply& reply) {
  try {
    return std::string(boost::json::parse(reply.body).at("error").at("code").as_string());
  } catch (const std::exception&) {
    return "";
  }
}

boost::json::object ApiTest::Json(const Reply& reply) {
  try {
    return boost::json::parse(reply.body).as_object();
  } catch (const std::exception&) {
    ADD_FAILURE() << "not a JSON object: status " << reply.status;
    return {};
  }
}

}  // namespace kmsd::e2e
