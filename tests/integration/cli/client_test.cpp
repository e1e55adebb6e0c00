// kmsd_client against FakeDaemon, in process: keys decoded into Secrets,
// retries on 503 only, keep-alive, the decrypt cache, errors and timeouts.
#include "cli/client/client.h"

#include <gtest/gtest.h>

#include <thread>

#include "fake_daemon.h"

namespace kmsd::client {
namespace {

using testing::FakeDaemon;
using testing::FakeReply;
using testing::FakeRequest;
using namespace std::chrono_literals;

constexpr char kKeyB64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

std::vector<std::uint8_t> ExpectedKey() {
  std::vector<std::uint8_t> key(32);
  for (int i = 0; i < 32; ++i) key[i] = static_cast<std::uint8_t>(i);
  return key;
}

FakeReply DecryptReply() {
  return FakeReply{
      200, std::string(R"({"context_id":"c1","plaintext_key":")") + kKeyB64 +
               R"(","asset_type":"recording","asset_id":"a","created_at":"2026-12-03T00:00:00Z"})"};
}

std::unique_ptr<Client> Make(const FakeDaemon& daemon, std::string token = "tok",
                             std::shared_ptr<KeyCache> cache = nullptr) {
  ClientOptions options;
  options.url = daemon.url();
  options.bearer_token = Secret::CopyOf(token);
  options.retry = {4, 1ms, 4ms};
  options.request_timeout = 2s;
  options.key_cache = std::move(cache);
  return Client::Create(std::move(options)).value();
}

TEST(ClientTest, GenerateDecodesTheKeyIntoASecret) {
  FakeRequest seen;
  FakeDaemon daemon([&](const FakeRequest& r) {
    seen = r;
    return FakeReply{201, std::string(R"({"context_id":"c1","plaintext_key":")") + kKeyB64 +
                              R"(","key_version":3,"created_at":"2026-12-03T00:00:00Z"})"};
  });
  auto key = Make(daemon)->GenerateDataKey({"recording", "m/1", std::string("c1"), std::nullopt});
  ASSERT_TRUE(key) << Describe(key.error());
  EXPECT_EQ(key->context_id, "c1");
  EXPECT_EQ(key->key_version, "3");
  EXPECT_TRUE(key->plaintext_key.Equals(ExpectedKey()));
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/v1/datakeys");
  EXPECT_EQ(seen.authorization, "Bearer tok");
  EXPECT_EQ(seen.body, R"({"asset_type":"recording","asset_id":"m/1","context_id":"c1"})");
}

TEST(ClientTest, RetriesOn503OnlyAndBounded) {
  FakeDaemon unavailable([](const FakeRequest&) {
    return FakeReply{503, FakeDaemon::ErrorBody("hsm_unavailable")};
  });
  auto result = Make(unavailable)->ListKeys();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().status, 503);
  EXPECT_EQ(result.error().code, "hsm_unavailable");
  EXPECT_EQ(result.error().attempts, 4u);
  EXPECT_EQ(unavailable.requests(), 4);

  for (int status : {500, 502, 504, 429, 409}) {
    FakeDaemon other([&](const FakeRequest&) {
      return FakeReply{status, FakeDaemon::ErrorBody("x")};
    });
    auto r = Make(other)->ListKeys();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, status);
    EXPECT_EQ(other.requests(), 1) << status << " must not be retried";
  }
}

TEST(ClientTest, ErrorCarriesCodeMessageAndRule) {
  FakeDaemon daemon([](const FakeRequest&) {
    return FakeReply{403,
                     R"({"error":{"code":"policy_denied","message":"denied","rule":"q1-freeze"}})"};
  });
  auto r = Make(daemon)->DecryptDataKey("c1", "authz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(r.error().status, 403);
  EXPECT_EQ(r.error().code, "policy_denied");
  EXPECT_EQ(r.error().message, "denied");
  EXPECT_EQ(r.error().rule, "q1-freeze");
}

TEST(ClientTest, KeepsTheConnectionAliveAndRecoversWhenTheServerClosesIt) {
  int n = 0;
  FakeDaemon daemon([&](const FakeRequest&) {
    ++n;
    return FakeReply{200, "{}", /*close=*/n == 2};
  });
  auto client = Make(daemon);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client->ListKeys());
  EXPECT_EQ(daemon.requests(), 4);
  EXPECT_EQ(daemon.connections(), 2);  // one reused for 1-2, a new one after the close
}

TEST(ClientTest, StaleKeepAliveConnectionIsResentOnlyForIdempotentRequests) {
  int n = 0;
  FakeDaemon daemon([&](const FakeRequest&) {
    ++n;
    return FakeReply{200, "{}", false, /*drop=*/n == 2 || n == 4};
  });
  auto client = Make(daemon);
  ASSERT_TRUE(client->ListKeys());  // 1
  // 2 dropped on the kept-alive connection, resent on a new one as 3.
  ASSERT_TRUE(client->ListKeys());
  EXPECT_EQ(daemon.requests(), 3);
  // A POST whose reply is lost (4) is not resent: the daemon may have acted.
  auto rotated = client->RotateKey();
  ASSERT_FALSE(rotated);
  EXPECT_EQ(rotated.error().kind, ClientError::Kind::kConnect);
  EXPECT_EQ(daemon.requests(), 4);
}

TEST(ClientTest, DecryptCacheServesRepeatsAndKeepsCallersApart) {
  FakeDaemon daemon([](const FakeRequest&) { return DecryptReply(); });
  auto cache = std::make_shared<KeyCache>();
  auto client = Make(daemon, "tok", cache);
  auto first = client->DecryptDataKey("c1", "authz-1");
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->from_cache);
  auto second = client->DecryptDataKey("c1", "authz-2");
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->from_cache);
  EXPECT_TRUE(second->plaintext_key.Equals(ExpectedKey()));
  EXPECT_EQ(daemon.requests(), 1);

  // Another bearer token (another caller, maybe another tenant): no hit.
  client.reset();  // FakeDaemon serves one connection at a time
  auto other = Make(daemon, "other-token", cache);
  ASSERT_TRUE(other->DecryptDataKey("c1", "authz-3"));
  EXPECT_EQ(daemon.requests(), 2);
}

TEST(ClientTest, GenerateIsNeverCachedAndDestroyDropsTheCachedKey) {
  FakeDaemon daemon([](const FakeRequest& r) {
    if (r.method == "DELETE") return FakeReply{204, ""};
    return DecryptReply();
  });
  auto cache = std::make_shared<KeyCache>();
  auto client = Make(daemon, "tok", cache);
  ASSERT_TRUE(client->DecryptDataKey("c1", "authz"));
  EXPECT_EQ(cache->size(), 1u);
  ASSERT_TRUE(client->DestroyRecord("c1"));
  EXPECT_EQ(cache->size(), 0u);
  ASSERT_TRUE(client->DecryptDataKey("c1", "authz"));
  EXPECT_EQ(daemon.requests(), 3);
}

TEST(ClientTest, SlowReplyTimesOut) {
  FakeDaemon daemon([](const FakeRequest&) {
    std::this_thread::sleep_for(600ms);
    return FakeReply{200, "{}"};
  });
  ClientOptions options;
  options.url = daemon.url();
  options.request_timeout = 100ms;
  auto client = Client::Create(std::move(options)).value();
  auto r = client->ListKeys();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kTimeout);
  EXPECT_EQ(daemon.requests(), 1);
}

TEST(ClientTest, ConnectionRefusedIsAConnectError) {
  ClientOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(testing::UnusedPort());
  auto r = Client::Create(std::move(options)).value()->GetPolicy();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kConnect);
}

TEST(ClientTest, ReplyThatIsNotTheContractIsAProtocolError) {
  FakeDaemon daemon([](const FakeRequest&) { return FakeReply{200, R"({"context_id":"c1"})"}; });
  auto r = Make(daemon)->DecryptDataKey("c1", "authz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ClientError::Kind::kProtocol);
}

TEST(ClientTest, BadTlsFilesAreInvalidArguments) {
  ClientOptions options;
  options.url = "https://127.0.0.1:1";
  options.tls.ca_file = "/nonexistent/ca.pem";
  auto created = Client::Create(std::move(options));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ClientError::Kind::kInvalidArgument);
}

}  // namespace
}  // namespace kmsd::client
