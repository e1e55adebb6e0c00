// Checkpoints signed in a real SoftHSM2 token, verified with only the
// public key (no token) — the production arrangement.
#include <gtest/gtest.h>

#include "broker/audit/audit_log.h"
#include "broker/audit/key_service_signer.h"
#include "broker/audit/verify.h"
#include "hsm/pkcs11_key_service.h"
#include "tests/integration/audit/audit_test_support.h"
#include "tests/support/softhsm_token.h"

namespace kmsd::audit {
namespace {

using namespace kmsd::audit::testing;

TEST(AuditTokenSignerTest, TokenSignedCheckpointsVerifyWithThePublicKeyOnly) {
  std::unique_ptr<kmsd::testing::SoftHsmToken> token;
  KMSD_REQUIRE_SOFTHSM_TOKEN(token);
  auto service = hsm::OpenPkcs11KeyService(token->Config());
  ASSERT_TRUE(service) << service.error().message;
  auto signer = KeyServiceCheckpointSigner::Create(**service);
  ASSERT_TRUE(signer) << signer.error().message;
  EXPECT_TRUE((*signer)->KeyId().starts_with("p256:"));

  TempDir dir;
  {
    auto log = AuditLog::Open(TestOptions(dir.path()), *signer);
    ASSERT_TRUE(log);
    for (int i = 1; i <= 25; ++i) ASSERT_TRUE((*log)->Append(MakeEvent("acme", i)));
    (*log)->Close();
    EXPECT_EQ((*log)->stats().checkpoints, 3u);
  }
  const auto files = FilesOf(dir.path());
  const auto r = VerifyAuditFiles(files, (*signer)->public_key_der());
  EXPECT_EQ(r.status, VerifyReport::Status::kOk) << FormatVerifyReport(r);
  EXPECT_EQ(r.checkpoints, 3u);

  SoftwareP256Signer other;
  const auto wrong = VerifyAuditFiles(files, other.PublicKeyDer());
  ASSERT_TRUE(wrong.problem);
  EXPECT_EQ(wrong.problem->kind, ProblemKind::kBadSignature);
}

}  // namespace
}  // namespace kmsd::audit
