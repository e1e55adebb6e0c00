// The broker's flows against a real SoftHSM2 token, SQLite store and audit log.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "tests/integration/broker/broker_harness.h"

namespace kmsd::testing {
namespace {

using broker::Caller;
using policy::kRoleAdmin;
using policy::kRoleDecrypt;
using policy::kRoleEncrypt;

constexpr policy::RoleSet kAllRoles = kRoleEncrypt | kRoleDecrypt | kRoleAdmin;

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
    Open();
  }

  void Open(const HarnessOptions& options = {}, SoftHsmToken* second = nullptr) {
    harness_.reset();
    std::string error;
    harness_ = BrokerHarness::Create(dir_, *token_, second, options, &error);
    ASSERT_NE(harness_, nullptr) << error;
  }

  broker::Broker& broker() { return harness_->broker(); }

  broker::GenerateReply Generate(const Caller& caller, std::string asset_type = "recording",
                                 std::string asset_id = "mtg-1/rec.mp4") {
    auto reply = broker().Generate(caller, {std::move(asset_type), std::move(asset_id), {}});
    EXPECT_TRUE(reply) << ErrorCodeName(reply.error().code) << " " << reply.error().message;
    return std::move(reply.value());
  }

  Result<broker::DecryptReply> Decrypt(const Caller& caller, const std::string& context_id) {
    return broker().Decrypt(caller, {context_id, harness_->Authz(caller.tenant, context_id)});
  }

  // Runs one SQL statement on the store's file, as an attacker with disk access would.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(harness_->db_path().c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    EXPECT_EQ(sqlite3_changes(db), 1) << sql;
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << text;
  }

  // Rows of `tenant` in `table`, read straight from the store's file.
  int AdmittedTenantRows(const std::string& table, const std::string& tenant) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(harness_->db_path().c_str(), &db), SQLITE_OK);
    const std::string sql = "SELECT count(*) FROM " + table + " WHERE tenant = ?1";
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    sqlite3_bind_text(stmt, 1, tenant.c_str(), -1, SQLITE_TRANSIENT);
    const int rows = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rows;
  }

  TempDir dir_{"kmsd-broker"};
  std::unique_ptr<SoftHsmToken> token_;
  std::unique_ptr<BrokerHarness> harness_;
};

TEST_F(BrokerTest, GenerateThenDecryptReturnsTheSameKeyAndRecordFacts) {
  const Caller caller = BrokerHarness::CallerOf("acme", kAllRoles);
  auto generated = Generate(caller);
  EXPECT_TRUE(std::regex_match(
      generated.context_id,
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_EQ(generated.plaintext_key.size(), 32u);
  EXPECT_EQ(generated.key_version, 1u);

  auto decrypted = Decrypt(caller, generated.context_id);
  ASSERT_TRUE(decrypted) << decrypted.error().message;
  EXPECT_TRUE(decrypted->plaintext_key.Equals(generated.plaintext_key.expose()));
  EXPECT_EQ(decrypted->asset_type, "recording");
  EXPECT_EQ(decrypted->asset_id, "mtg-1/rec.mp4");
  EXPECT_EQ(decrypted->created_at, generated.created_at);

  auto info = broker().GetRecord(caller, generated.context_id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->key_version, 1u);
  EXPECT_EQ(info->state, store::RecordState::kActive);
}

TEST_F(BrokerTest, AnyNumberOfClientsDecryptTheSameContextEachWithItsOwnToken) {
  auto generated = Generate(BrokerHarness::CallerOf("acme", kRoleEncrypt));
  for (const char* who : {"bob", "carol", "dave"}) {
    auto decrypted =
        Decrypt(BrokerHarness::CallerOf("acme", kRoleDecrypt, who), generated.context_id);
    ASSERT_TRUE(decrypted) << who;
    EXPECT_TRUE(decrypted->plaintext_key.Equals(generated.plaintext_key.expose()));
  }
}

TEST_F(BrokerTest, ClientSuppliedContextIdIsCheckedAndUniquePerTenant) {
  const Caller acme = BrokerHarness::CallerOf("acme", kAllRoles);
  ASSERT_TRUE(broker().Generate(acme, {"recording", "a", std::string("rec/2026/a.mp4")}));
  auto again = broker().Generate(acme, {"recording", "b", std::string("rec/2026/a.mp4")});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  // Another tenant may use the same id.
  EXPECT_TRUE(broker().Generate(BrokerHarness::CallerOf("globex", kAllRoles),
                                {"recording", "a", std::string("rec/2026/a.mp4")}));
  for (const std::string& bad :
       std::vector<std::string>{"", "has space", "caf\xc3\xa9", std::string(129, 'a'), "a\nb"}) {
    auto refused = broker().Generate(acme, {"recording", "a", bad});
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(broker().Generate(acme, {"recording", "a", std::string(128, 'z')}));
}

TEST_F(BrokerTest, AssetFieldsAreCanonicalAtIngress) {
  const Caller acme = BrokerHarness::CallerOf("acme", kAllRoles);
  for (const std::string& bad : std::vector<std::string>{"Recording", "recording ",
                                                         "r\xef\xbd\x85"
                                                         "cording",
                                                         ""}) {
    auto refused = broker().Generate(acme, {bad, "a", {}});
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  }
  auto star = broker().Generate(acme, {"recording", "mtg-4*", {}});
  ASSERT_FALSE(star);
  EXPECT_EQ(star.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(BrokerTest, RolesGateEveryOperation) {
  auto generated = Generate(BrokerHarness::CallerOf("acme", kRoleEncrypt));
  const Caller encrypt_only = BrokerHarness::CallerOf("acme", kRoleEncrypt);
  const Caller decrypt_only = BrokerHarness::CallerOf("acme", kRoleDecrypt);
  EXPECT_EQ(Decrypt(encrypt_only, generated.context_id).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().Generate(decrypt_only, {"recording", "x", {}}).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().DestroyRecord(decrypt_only, generated.context_id).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().RotateKek(encrypt_only).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().GetPolicy(decrypt_only).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(broker().GetRecord(decrypt_only, generated.context_id));
}

// Refused changes to keys and policy are in the trail, as refused releases
// are, and change nothing.
TEST_F(BrokerTest, ChangesRefusedForTheRoleAreAuditedAndChangeNothing) {
  auto generated = Generate(BrokerHarness::CallerOf("acme", kRoleEncrypt));
  const Caller not_admin = BrokerHarness::CallerOf("acme", kRoleEncrypt | kRoleDecrypt, "mallory");
  EXPECT_EQ(broker().DestroyRecord(not_admin, generated.context_id).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().DestroyRecord(not_admin, "bad id").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().RotateKek(not_admin).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().DestroyKekVersion(not_admin, 1, true).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().RewrapStep(not_admin, 10).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(broker().PutPolicy(not_admin, R"({"default":"deny","rules":[]})").error().error.code,
            ErrorCode::kPermissionDenied);

  auto events = harness_->audit_log().Query("acme", 0, 1000);
  ASSERT_TRUE(events);
  std::vector<std::pair<audit::Operation, std::string>> refused;
  for (const auto& event : *events) {
    if (event.principal != "mallory") continue;
    EXPECT_EQ(event.decision, audit::Decision::kDeny);
    EXPECT_EQ(event.error, ErrorCode::kPermissionDenied);
    refused.emplace_back(event.operation, event.context_id);
  }
  using audit::Operation;
  EXPECT_EQ(refused, (std::vector<std::pair<Operation, std::string>>{
                         {Operation::kDestroyRecord, generated.context_id},
                         {Operation::kDestroyRecord, ""},
                         {Operation::kRotateKek, ""},
                         {Operation::kDestroyKek, ""},
                         {Operation::kRewrap, ""},
                         {Operation::kPolicyChange, ""}}));
  EXPECT_TRUE(Decrypt(BrokerHarness::CallerOf("acme", kRoleDecrypt), generated.context_id));
  auto keks = broker().ListKeks(BrokerHarness::CallerOf("acme", kRoleAdmin));
  ASSERT_TRUE(keks);
  EXPECT_EQ(keks->size(), 1u);
}

// Destroying a version a tenant never had is refused and provisions nothing
// (it created the tenant's first KEK before refusing it as current).
TEST_F(BrokerTest, DestroyingAVersionOfANewTenantCreatesNoKek) {
  const Caller admin = BrokerHarness::CallerOf("newco", kAllRoles);
  for (std::uint32_t version : {1u, 2u}) {
    auto refused = broker().DestroyKekVersion(admin, version, true);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  }
  auto keks = broker().ListKeks(admin);
  ASSERT_TRUE(keks);
  EXPECT_TRUE(keks->empty());
  EXPECT_EQ(Generate(admin).key_version, 1u);  // the first use still provisions v1
}

TEST_F(BrokerTest, TenantBNeitherFindsNorDecryptsTenantARecords) {
  auto generated = Generate(BrokerHarness::CallerOf("acme", kAllRoles));
  const Caller globex = BrokerHarness::CallerOf("globex", kAllRoles);
  EXPECT_EQ(broker().GetRecord(globex, generated.context_id).error().code, ErrorCode::kNotFound);
  // With a valid token of its own signer for that context id: not found.
  EXPECT_EQ(Decrypt(globex, generated.context_id).error().code, ErrorCode::kNotFound);
  // With tenant A's genuine authorization token: refused before any lookup.
  auto with_a_token = broker().Decrypt(
      globex, {generated.context_id, harness_->Authz("acme", generated.context_id)});
  EXPECT_EQ(with_a_token.error().code, ErrorCode::kInvalidAuthorizationToken);
  EXPECT_EQ(broker().DestroyRecord(globex, generated.context_id).error().code,
            ErrorCode::kNotFound);
  // A's record is untouched.
  EXPECT_TRUE(Decrypt(BrokerHarness::CallerOf("acme", kAllRoles), generated.context_id));
}

TEST_F(BrokerTest, AuthorizationTokenMustMatchContextAndIsSingleUse) {
  const Caller caller = BrokerHarness::CallerOf("acme", kAllRoles);
  auto first = Generate(caller);
  auto second = Generate(caller);
  auto wrong_ctx =
      broker().Decrypt(caller, {first.context_id, harness_->Authz("acme", second.context_id)});
  EXPECT_EQ(wrong_ctx.error().code, ErrorCode::kInvalidAuthorizationToken);

  const std::string token = harness_->Authz("acme", first.context_id);
  EXPECT_TRUE(broker().Decrypt(caller, {first.context_id, token}));
  EXPECT_EQ(broker().Decrypt(caller, {first.context_id, token}).error().code,
            ErrorCode::kInvalidAuthorizationToken);

  const std::string expired = harness_->Authz("acme", first.context_id, std::chrono::seconds(60));
  harness_->clock().Advance(std::chrono::minutes(5));
  EXPECT_EQ(broker().Decrypt(caller, {first.context_id, expired}).error().code,
            ErrorCode::kInvalidAuthorizationToken);

  const std::string for_bob =
      harness_->Authz("acme", first.context_id, std::chrono::seconds(300), "bob");
  EXPECT_EQ(broker().Decrypt(caller, {first.context_id, for_bob}).error().code,
            ErrorCode::kInvalidAuthorizationToken);
  EXPECT_TRUE(broker().Decrypt(BrokerHarness::CallerOf("acme", kRoleDecrypt, "bob"),
                               {first.context_id, for_bob}));
}

TEST_F(BrokerTest, DestroyedRecordAnswersGoneAndKeepsNoKey) {
  const Caller caller = BrokerHarness::CallerOf("acme", kAllRoles);
  auto generated = Generate(caller);
  ASSERT_TRUE(broker().DestroyRecord(caller, generated.context_id));
  EXPECT_EQ(Decrypt(caller, generated.context_id).error().code, ErrorCode::kGone);
  EXPECT_EQ(broker().DestroyRecord(caller, generated.context_id).error().code, ErrorCode::kGone);
  auto info = broker().GetRecord(caller, generated.context_id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, store::RecordState::kDestroyed);
  EXPECT_TRUE(info->destroyed_at.has_value());
  auto raw = harness_->store().Find("acme", generated.context_id);
  ASSERT_TRUE(raw);
  EXPECT_TRUE(raw->wrapped_key.empty());
}

// Each bound column edited at rest makes the unwrap fail its tag check.
TEST_F(BrokerTest, TamperingWithAnyBoundColumnIsAnIntegrityError) {
  const Caller acme = BrokerHarness::CallerOf("acme", kAllRoles);
  Generate(BrokerHarness::CallerOf("globex", kAllRoles));  // gives globex a KEK v1
  ASSERT_TRUE(broker().RotateKek(acme));                   // acme now has v1 and v2
  struct Case {
    const char* name;
    std::string sql;     // {ctx} is the victim's context id
    std::string tenant;  // who decrypts after tampering
    std::string lookup;  // context id to decrypt after tampering; empty: the victim's
  };
  const std::vector<Case> cases = {
      {"asset_type", "UPDATE records SET asset_type='meeting' WHERE context_id='{ctx}'", "acme",
       ""},
      {"asset_id", "UPDATE records SET asset_id='mtg-2/rec.mp4' WHERE context_id='{ctx}'", "acme",
       ""},
      {"created_at", "UPDATE records SET created_at=created_at-1 WHERE context_id='{ctx}'", "acme",
       ""},
      {"kek_version", "UPDATE records SET kek_version=1 WHERE context_id='{ctx}'", "acme", ""},
      {"context_id", "UPDATE records SET context_id='{ctx}-moved' WHERE context_id='{ctx}'", "acme",
       "{ctx}-moved"},
      {"tenant", "UPDATE records SET tenant='globex', kek_version=1 WHERE context_id='{ctx}'",
       "globex", ""},
      {"wrapped_key from another record",
       "UPDATE records SET wrapped_key=(SELECT wrapped_key FROM records WHERE context_id='{other}')"
       " WHERE context_id='{ctx}'",
       "acme", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto victim = Generate(acme, "recording", "mtg-1/rec.mp4");
    auto other = Generate(acme, "recording", "mtg-1/rec.mp4");
    ASSERT_EQ(victim.key_version, 2u);
    auto fill = [&](std::string text) {
      for (auto [key, value] :
           {std::pair{"{ctx}", victim.context_id}, std::pair{"{other}", other.context_id}}) {
        for (std::size_t at; (at = text.find(key)) != std::string::npos;)
          text.replace(at, std::strlen(key), value);
      }
      return text;
    };
    Tamper(fill(c.sql));
    const std::string lookup = c.lookup.empty() ? victim.context_id : fill(c.lookup);
    auto decrypted = Decrypt(BrokerHarness::CallerOf(c.tenant, kAllRoles), lookup);
    ASSERT_FALSE(decrypted);
    EXPECT_EQ(decrypted.error().code, ErrorCode::kIntegrity);
    // The untouched neighbour still decrypts.
    EXPECT_TRUE(Decrypt(acme, other.context_id));
  }
}

TEST_F(BrokerTest, PolicyDenialNamesTheRuleAndARejectedDocumentChangesNothing) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  auto webinar = Generate(admin, "webinar_recording", "w-1");
  auto meeting = Generate(admin, "recording", "m-1");
  auto stored = broker().PutPolicy(admin, R"({"default": "allow", "rules": [
      {"id": "no-webinars", "effect": "deny", "operations": ["decrypt"],
       "asset_types": ["webinar_recording"]}]})");
  ASSERT_TRUE(stored);
  EXPECT_EQ((*stored)->version(), 1u);

  auto denied = Decrypt(admin, webinar.context_id);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kPolicyDenied);
  EXPECT_EQ(denied.error().rule, "no-webinars");
  EXPECT_TRUE(Decrypt(admin, meeting.context_id));

  auto rejected =
      broker().PutPolicy(admin, R"({"default": "deny", "rules": [{"id": "x"}], "bogus": 1})");
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().error.code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(rejected.error().problems.empty());
  auto in_force = broker().GetPolicy(admin);
  ASSERT_TRUE(in_force);
  EXPECT_EQ((*in_force)->version(), 1u);
  EXPECT_TRUE(Decrypt(admin, meeting.context_id));

  // The audit trail has the denial with its rule and policy version.
  auto events = harness_->audit_log().Query("acme", 0, 1000);
  ASSERT_TRUE(events);
  const auto denial = std::find_if(events->begin(), events->end(), [&](const auto& e) {
    return e.operation == audit::Operation::kDecrypt && e.decision == audit::Decision::kDeny;
  });
  ASSERT_NE(denial, events->end());
  EXPECT_EQ(denial->rule, "no-webinars");
  EXPECT_EQ(denial->policy_version, 1u);
  EXPECT_EQ(denial->context_id, webinar.context_id);
}

TEST_F(BrokerTest, RotationKeepsOldRecordsAndRewrapMovesThemToTheCurrentVersion) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  std::vector<broker::GenerateReply> records;
  for (int i = 0; i < 5; ++i) records.push_back(Generate(admin));
  auto rotated = broker().RotateKek(admin);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->version, 2u);
  EXPECT_EQ(rotated->state, store::KekState::kCurrent);
  for (int i = 0; i < 5; ++i) records.push_back(Generate(admin));
  EXPECT_EQ(records.front().key_version, 1u);
  EXPECT_EQ(records.back().key_version, 2u);
  for (const auto& r : records) EXPECT_TRUE(Decrypt(admin, r.context_id)) << r.context_id;

  // A destroy of v1 is refused while records use it.
  EXPECT_EQ(broker().DestroyKekVersion(admin, 1, false).error().code, ErrorCode::kConflict);
  EXPECT_EQ(broker().DestroyKekVersion(admin, 2, true).error().code, ErrorCode::kConflict);

  int steps = 0;
  broker::RewrapProgress progress;
  do {
    auto step = broker().RewrapStep(admin, 2);
    ASSERT_TRUE(step) << step.error().message;
    progress = *step;
    ASSERT_LT(++steps, 10);
  } while (progress.remaining > 0);
  EXPECT_EQ(steps, 3);
  for (const auto& r : records) {
    auto info = broker().GetRecord(admin, r.context_id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->key_version, 2u);
    auto decrypted = Decrypt(admin, r.context_id);
    ASSERT_TRUE(decrypted);
    EXPECT_TRUE(decrypted->plaintext_key.Equals(r.plaintext_key.expose()));
  }
  auto versions = broker().ListKeks(admin);
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].state, store::KekState::kRetired);
  auto destroyed = broker().DestroyKekVersion(admin, 1, false);
  ASSERT_TRUE(destroyed) << destroyed.error().message;
  EXPECT_EQ(*destroyed, 0u);
  auto token_versions = harness_->keys().ListKekVersions("acme");
  ASSERT_TRUE(token_versions);
  EXPECT_EQ(*token_versions, std::vector<std::uint32_t>{2});
}

TEST_F(BrokerTest, ForcedKekDestructionShredsItsRecords) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  auto old_record = Generate(admin);
  ASSERT_TRUE(broker().RotateKek(admin));
  auto new_record = Generate(admin);
  auto shredded = broker().DestroyKekVersion(admin, 1, true);
  ASSERT_TRUE(shredded);
  EXPECT_EQ(*shredded, 1u);
  EXPECT_EQ(Decrypt(admin, old_record.context_id).error().code, ErrorCode::kGone);
  EXPECT_TRUE(Decrypt(admin, new_record.context_id));
}

HarnessOptions ThresholdOptions() {
  HarnessOptions options;
  options.rotate_after_wraps = 3;
  options.reservation_block = 2;
  return options;
}

TEST_F(BrokerTest, KekRotatesAutomaticallyAtTheWrapThresholdAndCountsSurviveRestart) {
  Open(ThresholdOptions());
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  std::vector<std::uint32_t> versions_used;
  std::vector<broker::GenerateReply> records;
  for (int i = 0; i < 7; ++i) {
    records.push_back(Generate(admin));
    versions_used.push_back(records.back().key_version);
  }
  EXPECT_EQ(versions_used, (std::vector<std::uint32_t>{1, 1, 1, 2, 2, 2, 3}));
  auto versions = broker().ListKeks(admin);
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 3u);
  for (const auto& v : *versions) EXPECT_LE(v.wraps_reserved, 3u);
  for (const auto& r : records) EXPECT_TRUE(Decrypt(admin, r.context_id));

  // After a restart the unused part of v3's reservation counts as used, so the
  // count can only over-estimate: v3 had 2 reserved, 1 used -> rotates sooner.
  Open(ThresholdOptions());
  EXPECT_EQ(Generate(admin).key_version, 3u);  // reserves v3's last wrap (2 -> 3)
  EXPECT_EQ(Generate(admin).key_version, 4u);
}

TEST_F(BrokerTest, TwoTenantsOnTwoTokensInOneProcess) {
  std::unique_ptr<SoftHsmToken> second;
  KMSD_REQUIRE_SOFTHSM_TOKEN(second);
  HarnessOptions options;
  options.second_token_tenants = {"globex"};
  Open(options, second.get());
  auto a = Generate(BrokerHarness::CallerOf("acme", kAllRoles));
  auto b = Generate(BrokerHarness::CallerOf("globex", kAllRoles));
  EXPECT_TRUE(Decrypt(BrokerHarness::CallerOf("acme", kAllRoles), a.context_id));
  EXPECT_TRUE(Decrypt(BrokerHarness::CallerOf("globex", kAllRoles), b.context_id));
  // Each tenant's KEK lives only in its own token.
  EXPECT_EQ(harness_->keys().ListKekVersions("acme").value(), std::vector<std::uint32_t>{1});
  EXPECT_TRUE(harness_->keys().ListKekVersions("globex").value().empty());
  EXPECT_EQ(harness_->second_keys()->ListKekVersions("globex").value(),
            std::vector<std::uint32_t>{1});
  EXPECT_TRUE(harness_->second_keys()->ListKekVersions("acme").value().empty());
}

// Outside dev mode tenants exist only by configuration: a valid admin of an
// unconfigured tenant can neither read nor write anything, policies included.
TEST_F(BrokerTest, UnconfiguredTenantIsRefusedByEveryFlowAndLeavesNoTrace) {
  HarnessOptions options;
  options.configured_tenants = {"acme"};
  Open(options);
  const auto acme = Generate(BrokerHarness::CallerOf("acme", kAllRoles));
  const Caller other = BrokerHarness::CallerOf("other", kAllRoles);
  auto expect_unknown = [](const Error& error, const char* flow) {
    EXPECT_EQ(error.code, ErrorCode::kPermissionDenied) << flow;
    EXPECT_EQ(error.message, "unknown tenant") << flow;
  };
  const std::string policy = R"({"default": "allow", "rules": []})";
  auto put = broker().PutPolicy(other, policy);
  ASSERT_FALSE(put);
  expect_unknown(put.error().error, "PutPolicy");
  expect_unknown(broker().GetPolicy(other).error(), "GetPolicy");
  expect_unknown(broker().EvaluatePolicy(other, {}).error(), "EvaluatePolicy");
  expect_unknown(broker().GetRecord(other, acme.context_id).error(), "GetRecord");
  expect_unknown(broker().DestroyRecord(other, acme.context_id).error(), "DestroyRecord");
  expect_unknown(broker().ListKeks(other).error(), "ListKeks");
  expect_unknown(broker().RotateKek(other).error(), "RotateKek");
  expect_unknown(broker().DestroyKekVersion(other, 1, true).error(), "DestroyKekVersion");
  expect_unknown(broker().RewrapStep(other, 10).error(), "RewrapStep");
  expect_unknown(broker().Generate(other, {"recording", "a/1", {}}).error(), "Generate");
  expect_unknown(Decrypt(other, acme.context_id).error(), "Decrypt");
  EXPECT_EQ(AdmittedTenantRows("policies", "other"), 0);
  EXPECT_EQ(AdmittedTenantRows("records", "other"), 0);
  EXPECT_EQ(AdmittedTenantRows("kek_versions", "other"), 0);
  auto events = harness_->audit_log().Query("other", 0, 1000);
  ASSERT_TRUE(events);
  EXPECT_TRUE(events->empty()) << "an unconfigured tenant left audit events";
  // The configured tenant is untouched and still served.
  EXPECT_TRUE(broker().PutPolicy(BrokerHarness::CallerOf("acme", kAllRoles), policy));
  EXPECT_TRUE(Decrypt(BrokerHarness::CallerOf("acme", kAllRoles), acme.context_id));
}

TEST_F(BrokerTest, SixteenThreadsGenerateAndDecryptWithoutErrors) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 60;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Caller caller = BrokerHarness::CallerOf(t % 2 == 0 ? "acme" : "globex", kAllRoles);
      for (int i = 0; i < kPerThread; ++i) {
        auto generated = broker().Generate(caller, {"recording", "m-" + std::to_string(i), {}});
        if (!generated) {
          ++errors;
          continue;
        }
        auto decrypted = Decrypt(caller, generated->context_id);
        if (!decrypted || !decrypted->plaintext_key.Equals(generated->plaintext_key.expose()))
          ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  auto events = harness_->audit_log().Query("acme", 0, 1000);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), std::size_t{kThreads / 2 * kPerThread * 2});
}

// A sink that cannot write: the broker must fail closed.
class BrokenAuditSink final : public broker::AuditSink {
 public:
  Result<std::uint64_t> Append(audit::AuditEvent) override {
    return MakeError(ErrorCode::kAuditUnavailable, "audit sink not writable");
  }
};

// A second broker on the same token and store whose audit sink is broken.
struct BrokerWithBrokenAudit {
  explicit BrokerWithBrokenAudit(BrokerHarness& harness)
      : router(std::shared_ptr<hsm::KeyService>(&harness.keys(), [](auto*) {})),
        broker({}, router, harness.store(), sink, verifier, harness.clock()) {}
  BrokenAuditSink sink;
  jose::AuthorizationTokenVerifier verifier{{.broker_id = kBrokerId},
                                            std::make_shared<jose::InMemoryJtiReplayCache>()};
  broker::TenantRouter router;
  broker::Broker broker;
};

TEST_F(BrokerTest, NoKeyLeavesWhenTheAuditEventCannotBeWritten) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  auto generated = Generate(admin);
  BrokerWithBrokenAudit broken(*harness_);
  broker::Broker& failing = broken.broker;
  auto refused = failing.Generate(admin, {"recording", "x", std::string("retry/1")});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAuditUnavailable);
  // Nothing half-written: no record, so the client's retry succeeds.
  EXPECT_FALSE(broker().GetRecord(admin, "retry/1"));
  auto retried = broker().Generate(admin, {"recording", "x", std::string("retry/1")});
  EXPECT_TRUE(retried) << ErrorCodeName(retried.error().code);
  auto denied_decrypt = failing.Decrypt(admin, {generated.context_id, "not-a-token"});
  ASSERT_FALSE(denied_decrypt);
  EXPECT_EQ(denied_decrypt.error().code, ErrorCode::kAuditUnavailable);
}

// Admin changes are audited before they take effect: a sink that cannot be
// written leaves the previous policy in force and the record alive.
TEST_F(BrokerTest, AdminChangesAreRefusedUnchangedWhenTheAuditEventCannotBeWritten) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  auto generated = Generate(admin);
  BrokerWithBrokenAudit broken(*harness_);
  broker::Broker& failing = broken.broker;

  auto put = failing.PutPolicy(admin, R"({"default": "deny", "rules": []})");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().error.code, ErrorCode::kAuditUnavailable);
  EXPECT_EQ(AdmittedTenantRows("policies", "acme"), 0);
  auto destroyed = failing.DestroyRecord(admin, generated.context_id);
  ASSERT_FALSE(destroyed);
  EXPECT_EQ(destroyed.error().code, ErrorCode::kAuditUnavailable);

  // KEK changes are refused unchanged too.
  auto rotated = failing.RotateKek(admin);
  ASSERT_FALSE(rotated);
  EXPECT_EQ(rotated.error().code, ErrorCode::kAuditUnavailable);
  ASSERT_TRUE(broker().RotateKek(admin));  // v2 current; the record stays on v1
  auto forced = failing.DestroyKekVersion(admin, 1, true);
  ASSERT_FALSE(forced);
  EXPECT_EQ(forced.error().code, ErrorCode::kAuditUnavailable);
  auto rewrap = failing.RewrapStep(admin, 10);
  ASSERT_FALSE(rewrap);
  EXPECT_EQ(rewrap.error().code, ErrorCode::kAuditUnavailable);
  auto info = broker().GetRecord(admin, generated.context_id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->key_version, 1u) << "rewrapped without an audit event";
  auto keks = broker().ListKeks(admin);
  ASSERT_TRUE(keks);
  EXPECT_EQ(keks->size(), 2u) << "a KEK version appeared without an audit event";

  // The working broker still sees the default policy and a live record.
  auto in_force = broker().GetPolicy(admin);
  ASSERT_TRUE(in_force);
  EXPECT_EQ((*in_force)->version(), 0u);
  EXPECT_TRUE(Decrypt(admin, generated.context_id));
}

TEST_F(BrokerTest, PolicyChangesAndDestructionsAreAuditedWithTheirVersion) {
  const Caller admin = BrokerHarness::CallerOf("acme", kAllRoles);
  auto generated = Generate(admin);
  ASSERT_TRUE(broker().PutPolicy(admin, R"({"default": "allow", "rules": []})"));
  ASSERT_TRUE(broker().PutPolicy(admin, R"({"default": "deny", "rules": []})"));
  ASSERT_TRUE(broker().DestroyRecord(admin, generated.context_id));
  auto again = broker().DestroyRecord(admin, generated.context_id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kGone);

  auto events = harness_->audit_log().Query("acme", 0, 1000);
  ASSERT_TRUE(events);
  std::vector<std::uint64_t> versions;
  int destructions = 0;
  for (const auto& event : *events) {
    if (event.operation == audit::Operation::kPolicyChange) {
      EXPECT_EQ(event.decision, audit::Decision::kAllow);
      versions.push_back(event.policy_version);
    }
    if (event.operation == audit::Operation::kDestroyRecord) {
      ++destructions;
      EXPECT_EQ(event.context_id, generated.context_id);
    }
  }
  EXPECT_EQ(versions, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(destructions, 1);  // the refused second destroy changed nothing
}

// Racing generates for one new client-chosen id: one key is released and
// audited as such; each loser is one conflict, never an "allow" event.
TEST_F(BrokerTest, RacingGeneratesForOneContextIdAuditOneRelease) {
  const Caller caller = BrokerHarness::CallerOf("acme", kAllRoles);
  constexpr int kRacers = 8;
  std::atomic<int> released{0}, conflicts{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < kRacers; ++i) {
    racers.emplace_back([&] {
      auto reply = broker().Generate(caller, {"recording", "a", std::string("race/1")});
      if (reply) {
        released.fetch_add(1);
      } else if (reply.error().code == ErrorCode::kConflict) {
        conflicts.fetch_add(1);
      }
    });
  }
  for (auto& racer : racers) racer.join();
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(conflicts.load(), kRacers - 1);

  auto events = harness_->audit_log().Query("acme", 0, 1000);
  ASSERT_TRUE(events);
  int allowed = 0, refused = 0;
  for (const auto& event : *events) {
    if (event.operation != audit::Operation::kGenerate || event.context_id != "race/1") continue;
    if (event.decision == audit::Decision::kAllow) ++allowed;
    if (event.decision == audit::Decision::kDeny) {
      ++refused;
      EXPECT_EQ(event.error, ErrorCode::kConflict);
    }
  }
  EXPECT_EQ(allowed, 1);
  EXPECT_EQ(refused, kRacers - 1);
}

}  // namespace
}  // namespace kmsd::testing
