// Line format and hash chain: pure functions, no files.
#include "broker/audit/chain.h"

#include <gtest/gtest.h>

#include "tests/integration/audit/audit_test_support.h"

namespace kmsd::audit {
namespace {

using testing::MakeEvent;

TEST(AuditChainTest, EventLineRoundTripsAndIsCanonical) {
  AuditEvent e = MakeEvent("acme", 4);  // a deny with a rule and an error outcome
  e.seq = 7;
  e.reason = "quote \" backslash \\ newline \n tab \t ünïcode";
  Digest hash{};
  const std::string line = EncodeEventLine(e, kGenesisDigest, &hash);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "a control character must be escaped";
  auto parsed = ParseLine(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->type, LineType::kEvent);
  EXPECT_EQ(parsed->event, e);
  EXPECT_EQ(parsed->hash, hash);
  EXPECT_EQ(parsed->prev, kGenesisDigest);
  EXPECT_TRUE(parsed->canonical);
}

TEST(AuditChainTest, HashIsSha256OfCanonicalBodyWithoutHashMember) {
  AuditEvent e = MakeEvent("acme", 1);
  e.seq = 1;
  Digest hash{};
  const std::string line = EncodeEventLine(e, kGenesisDigest, &hash);
  const std::size_t cut = line.rfind(",\"hash\":");
  ASSERT_NE(cut, std::string::npos);
  EXPECT_EQ(Sha256(line.substr(0, cut) + "}"), hash);
  EXPECT_EQ(line.substr(cut), ",\"hash\":\"" + ToHex(hash) + "\"}\n");
  EXPECT_TRUE(line.starts_with("{\"type\":\"event\",\"seq\":1,\"time\":\""));
}

TEST(AuditChainTest, EditedFieldIsAHashMismatch) {
  AuditEvent e = MakeEvent("acme", 1);
  e.seq = 1;
  Digest hash{};
  std::string line = EncodeEventLine(e, kGenesisDigest, &hash);
  line.pop_back();
  const auto at = line.find("\"acme\"");
  line.replace(at, 6, "\"acmf\"");
  auto parsed = ParseLine(line);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error(), LineError::kHashMismatch);
}

TEST(AuditChainTest, RefusesMalformedLines) {
  AuditEvent e = MakeEvent("acme", 1);
  Digest hash{};
  std::string good = EncodeEventLine(e, kGenesisDigest, &hash);
  good.pop_back();
  const std::string extra = good.substr(0, good.size() - 1) + ",\"key\":\"AAAA\"}";
  const std::string dup = "{\"type\":\"event\",\"type\":\"event\"}";
  std::string bad_op = good;
  bad_op.replace(bad_op.find("\"decrypt\""), 9, "\"decrypX\"");
  for (const std::string& bad :
       {std::string(""), std::string("{"), std::string("[]"), good.substr(0, good.size() / 2),
        extra, dup, bad_op, std::string("{\"type\":\"other\"}")}) {
    auto parsed = ParseLine(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error(), LineError::kMalformed) << bad;
  }
}

TEST(AuditChainTest, CheckpointAndNoticeRoundTrip) {
  Digest prev = Sha256(std::string_view("x"));
  Checkpoint cp{42, FromUnixMicros(1'780'000'000'000'000), "kid-1",
                std::vector<std::uint8_t>(64, 7)};
  Digest h1{};
  std::string line = EncodeCheckpointLine(cp, prev, &h1);
  line.pop_back();
  auto parsed = ParseLine(line);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->type, LineType::kCheckpoint);
  EXPECT_EQ(parsed->checkpoint.seq, 42u);
  EXPECT_EQ(parsed->checkpoint.signature, cp.signature);
  EXPECT_EQ(parsed->prev, prev);

  Digest h2{};
  std::string notice = EncodeNoticeLine({42, cp.time, "sink_recovered", "file=x"}, h1, &h2);
  notice.pop_back();
  auto parsed_notice = ParseLine(notice);
  ASSERT_TRUE(parsed_notice);
  EXPECT_EQ(parsed_notice->type, LineType::kNotice);
  EXPECT_EQ(parsed_notice->notice.note, "sink_recovered");
  EXPECT_EQ(parsed_notice->prev, h1);
}

TEST(AuditChainTest, CheckpointMessageBindsSeqAndChainHash) {
  const Digest h = Sha256(std::string_view("chain"));
  const auto m = CheckpointMessage(0x0102030405060708ull, h);
  const std::string label = "kmsd-audit-checkpoint-v1";
  ASSERT_EQ(m.size(), label.size() + 1 + 8 + 32);
  EXPECT_EQ(std::string(m.begin(), m.begin() + label.size()), label);
  EXPECT_EQ(m[label.size()], 0);
  EXPECT_EQ(m[label.size() + 1], 0x01);
  EXPECT_EQ(m[label.size() + 8], 0x08);
  EXPECT_NE(CheckpointMessage(1, h), CheckpointMessage(2, h));
}

TEST(AuditChainTest, ValidationRefusesOverlongAndInvalidUtf8Fields) {
  AuditEvent e = MakeEvent("acme", 1);
  EXPECT_TRUE(ValidateAuditEvent(e));
  AuditEvent longer = e;
  longer.asset_id = std::string(kMaxAuditFieldBytes + 1, 'a');
  ASSERT_FALSE(ValidateAuditEvent(longer));
  EXPECT_EQ(ValidateAuditEvent(longer).error().code, ErrorCode::kInvalidArgument);
  AuditEvent bad_utf8 = e;
  bad_utf8.principal = "\xc0\xaf";
  ASSERT_FALSE(ValidateAuditEvent(bad_utf8));
  EXPECT_EQ(ValidateAuditEvent(bad_utf8).error().code, ErrorCode::kInvalidArgument);
  AuditEvent no_tenant = e;
  no_tenant.tenant.clear();
  EXPECT_FALSE(ValidateAuditEvent(no_tenant));
  AuditEvent authn = no_tenant;  // a refused identity names no tenant
  authn.operation = Operation::kAuthnFailure;
  EXPECT_TRUE(ValidateAuditEvent(authn));
}

TEST(AuditChainTest, SignatureVerifiesOnlyWithTheSignersKey) {
  testing::SoftwareP256Signer signer;
  testing::SoftwareP256Signer other;
  const auto msg = CheckpointMessage(5, Sha256(std::string_view("c")));
  auto sig = signer.Sign(msg);
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->size(), 64u);
  auto der = signer.PublicKeyDer();
  auto key = LoadCheckpointPublicKey(der);
  ASSERT_TRUE(key);
  EXPECT_TRUE(VerifyCheckpointSignature(key->get(), msg, *sig));
  const std::string pem = signer.PublicKeyPem();
  auto pem_key = LoadCheckpointPublicKey(
      std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
  ASSERT_TRUE(pem_key);
  EXPECT_TRUE(VerifyCheckpointSignature(pem_key->get(), msg, *sig));
  auto other_der = other.PublicKeyDer();
  auto other_key = LoadCheckpointPublicKey(other_der);
  ASSERT_TRUE(other_key);
  EXPECT_FALSE(VerifyCheckpointSignature(other_key->get(), msg, *sig));
  auto flipped = *sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(VerifyCheckpointSignature(key->get(), msg, flipped));
  EXPECT_FALSE(VerifyCheckpointSignature(
      key->get(), CheckpointMessage(6, Sha256(std::string_view("c"))), *sig));
  const std::vector<std::uint8_t> junk(20, 1);
  EXPECT_FALSE(LoadCheckpointPublicKey(junk));
}

}  // namespace
}  // namespace kmsd::audit
