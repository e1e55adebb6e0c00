#include "tests/integration/broker/broker_harness.h"

#include <atomic>

#include "broker/jose/key_set.h"

namespace kmsd::testing {
namespace {

std::string Issuer(const std::string& tenant) { return "storage." + tenant + ".test"; }

}  // namespace

BrokerHarness::BrokerHarness() : clock_(SystemClock().Now()) {}

broker::Caller BrokerHarness::CallerOf(std::string tenant, policy::RoleSet roles,
                                       std::string principal) {
  static std::atomic<int> request_counter{0};
  return {std::move(tenant), std::move(principal), roles,
          "req-" + std::to_string(++request_counter)};
}

std::unique_ptr<BrokerHarness> BrokerHarness::Create(const TempDir& dir, SoftHsmToken& token,
                                                     SoftHsmToken* second_token,
                                                     const HarnessOptions& options,
                                                     std::string* error) {
  std::unique_ptr<BrokerHarness> h(new BrokerHarness());
  auto fail = [&](std::string what, const Error& e) {
    *error = what + ": " + std::string(ErrorCodeName(e.code)) + " " + e.message;
    return nullptr;
  };
  auto keys = hsm::OpenPkcs11KeyService(token.Config());
  if (!keys) return fail("open token", keys.error());
  h->keys_ = std::move(*keys);
  if (options.configured_tenants.empty()) {
    h->router_ = std::make_unique<broker::TenantRouter>(h->keys_);
  } else {
    h->router_ = std::make_unique<broker::TenantRouter>();
    for (const auto& tenant : options.configured_tenants) h->router_->Add(tenant, h->keys_);
  }
  if (second_token != nullptr) {
    auto second = hsm::OpenPkcs11KeyService(second_token->Config());
    if (!second) return fail("open second token", second.error());
    h->second_keys_ = std::move(*second);
    for (const auto& tenant : options.second_token_tenants)
      h->router_->Add(tenant, h->second_keys_);
  }

  h->db_path_ = dir.path() / "kmsd.db";
  auto store = store::SqliteRecordStore::Open({.path = h->db_path_});
  if (!store) return fail("open store", store.error());
  h->store_ = std::move(*store);

  auto signer = audit::KeyServiceCheckpointSigner::Create(*h->keys_);
  if (!signer) return fail("audit signer", signer.error());
  h->checkpoint_signer_ = std::move(*signer);
  audit::AuditLogOptions audit_options;
  audit_options.dir = dir.path() / "audit";
  audit_options.checkpoint_every = 50;
  auto log = audit::AuditLog::Open(audit_options, h->checkpoint_signer_);
  if (!log) return fail("open audit log", log.error());
  h->audit_log_ = std::move(*log);
  h->audit_sink_ = std::make_unique<broker::AuditLogSink>(*h->audit_log_);

  h->verifier_ = std::make_unique<jose::AuthorizationTokenVerifier>(
      jose::AuthorizationVerifierConfig{.broker_id = kBrokerId},
      std::make_shared<jose::InMemoryJtiReplayCache>());

  broker::BrokerOptions broker_options;
  broker_options.keys.rotate_after_wraps = options.rotate_after_wraps;
  broker_options.keys.reservation_block = options.reservation_block;
  h->broker_ = std::make_unique<broker::Broker>(broker_options, *h->router_, *h->store_,
                                                *h->audit_sink_, *h->verifier_, h->clock_);
  return h;
}

std::string BrokerHarness::SignClaims(const std::string& tenant,
                                      const boost::json::object& claims) {
  std::lock_guard lock(signers_mutex_);
  auto it = signers_.find(tenant);
  if (it == signers_.end()) {
    // First token of this tenant: mint its data-holder key and register it.
    auto pem = jose::GeneratePrivateKeyPem(jose::Algorithm::kES256);
    auto signer = jose::JwsSigner::FromPrivateKeyPem("holder-" + tenant, pem.value(),
                                                     jose::Algorithm::kES256);
    const boost::json::object jwk = signer.value().PublicJwk().value();
    boost::json::object jwks{{"keys", boost::json::array{jwk}}};
    auto set = jose::KeySet::FromJwks(boost::json::serialize(jwks));
    verifier_
        ->SetTenantSigners(
            tenant, {Issuer(tenant), std::make_shared<const jose::KeySet>(std::move(set.value()))})
        .value();
    it = signers_.emplace(tenant, std::move(signer.value())).first;
  }
  return it->second.Sign(claims).value();
}

std::string BrokerHarness::Authz(const std::string& tenant, const std::string& context_id,
                                 std::chrono::seconds ttl, const std::string& subject) {
  static std::atomic<int> jti_counter{0};
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  boost::json::object claims{{"iss", Issuer(tenant)},
                             {"aud", kBrokerId},
                             {"ctx", context_id},
                             {"tenant", tenant},
                             {"iat", now},
                             {"exp", now + ttl.count()},
                             {"jti", "jti-" + std::to_string(++jti_counter)}};
  if (!subject.empty()) claims["sub"] = subject;
  return SignClaims(tenant, claims);
}

}  // namespace kmsd::testing
