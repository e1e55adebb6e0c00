// Plain-HTTP behaviour of kmsd::http::Server: keep-alive, limits, timeouts,
// request ids, error replies, the connection cap and the worker pool.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/http/server.h"
#include "tests/integration/http/echo_handler.h"
#include "tests/integration/http/test_client.h"

namespace kmsd::http {
namespace {

using namespace std::chrono_literals;
using testing::EchoHandler;
using testing::TestClient;

class RecordingObserver : public Observer {
 public:
  void OnRequest(const RequestRecord& record) noexcept override {
    std::lock_guard lock(mu);
    statuses.push_back(record.status);
    latencies.push_back(record.latency);
  }
  std::vector<unsigned> Statuses() {
    std::lock_guard lock(mu);
    return statuses;
  }
  std::mutex mu;
  std::vector<unsigned> statuses;
  std::vector<std::chrono::microseconds> latencies;
};

// Canonical lowercase UUIDv4 text (no std::regex: GCC 12 warns inside it under ASan).
bool IsUuidV4(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (dash ? s[i] != '-' : !hex) return false;
  }
  return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

ServerConfig LoopbackConfig() {
  ServerConfig config;
  config.listeners.push_back(ListenerConfig{"api", "127.0.0.1", 0, std::nullopt});
  config.io_threads = 2;
  config.worker_threads = 4;
  return config;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerConfig config) {
    server_ = std::make_unique<Server>(std::move(config), handler_, &observer_);
    auto status = server_->Start();
    ASSERT_TRUE(status) << status.error().message;
    port_ = server_->BoundPort(0);
    ASSERT_NE(port_, 0);
  }
  TestClient Connect() {
    auto client = TestClient::Plain(port_);
    EXPECT_TRUE(client.has_value());
    return std::move(*client);
  }

  EchoHandler handler_;
  RecordingObserver observer_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto first = client.Post("/echo", "one");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200u);
  EXPECT_EQ(first->body, "one");
  EXPECT_NE(first->Header("connection"), "close");
  auto second = client.Post("/echo", "two");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "two");
  EXPECT_EQ(server_->Stats().open_connections, 1u);
  EXPECT_EQ(handler_.calls.load(), 2);
}

TEST_F(HttpServerTest, BodiesUpToTheLimitAreAcceptedInclusive) {
  StartServer(LoopbackConfig());  // default limit 65,536
  TestClient client = Connect();
  for (std::size_t size : {65535u, 65536u}) {
    auto reply = client.Post("/echo", std::string(size, 'b'));
    ASSERT_TRUE(reply) << size;
    EXPECT_EQ(reply->status, 200u) << size;
    EXPECT_EQ(reply->body.size(), size);
  }
}

TEST_F(HttpServerTest, BodyOverTheLimitGets413AndClose) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto reply = client.Post("/echo", std::string(65537, 'b'));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413u);
  EXPECT_NE(reply->body.find(R"("code":"payload_too_large")"), std::string::npos);
  EXPECT_EQ(reply->Header("connection"), "close");
  EXPECT_EQ(reply->Header("content-type"), "application/json");
  EXPECT_EQ(reply->Header("cache-control"), "no-store");
  EXPECT_TRUE(client.WaitClosed(5s));
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, ChunkedBodyGrowingPastTheLimitGets413) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'c') + "\r\n";  // 16 KiB each
  for (int i = 0; i < 5 && client.Send(chunk); ++i) {
  }
  client.Send("0\r\n\r\n");
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413u);
  EXPECT_NE(reply->body.find("payload_too_large"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(5s));
  EXPECT_EQ(handler_.calls.load(), 0);
}

// The coding's name is case-insensitive (RFC 9112 §7).
TEST_F(HttpServerTest, ChunkedBodyWithinTheLimitIsAccepted) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  ASSERT_TRUE(
      client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->body, "hello world");
}

// Only chunked framing is undone; a body in another transfer coding would
// reach the handler still encoded, so it is refused before it is read.
TEST_F(HttpServerTest, TransferCodingOtherThanChunkedGets501AndClose) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  ASSERT_TRUE(
      client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\n"));
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 501u);
  EXPECT_NE(reply->body.find(R"("code":"not_implemented")"), std::string::npos) << reply->body;
  EXPECT_TRUE(client.WaitClosed(5s));
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, HeadersOverTheLimitGet431AndClose) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto reply = client.Get("/echo", "X-Big: " + std::string(9000, 'h') + "\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 431u);
  EXPECT_FALSE(reply->Header("x-request-id").empty());
  EXPECT_EQ(reply->Header("cache-control"), "no-store");
  EXPECT_TRUE(client.WaitClosed(5s));
  EXPECT_EQ(handler_.calls.load(), 0);
}

// The limit is on the whole header, not on one field: twelve 1,000-byte
// fields (12 KB) in one write exceed 8 KiB too, while just under passes.
TEST_F(HttpServerTest, ManyFieldsOverTheLimitTogetherGet431) {
  StartServer(LoopbackConfig());
  auto fields = [](int count) {  // `count` fields of about 1,000 bytes each
    std::string text;
    for (int i = 0; i < count; ++i)
      text += "X-F" + std::to_string(i) + ": " + std::string(990, 'f') + "\r\n";
    return text;
  };
  TestClient client = Connect();
  auto reply = client.Get("/echo", fields(12));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 431u);
  EXPECT_EQ(handler_.calls.load(), 0);
  TestClient second = Connect();
  auto accepted = second.Get("/echo", fields(7));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200u);
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  ASSERT_TRUE(client.Send("GET /echo HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"));
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 400u);
  EXPECT_NE(reply->body.find("invalid_request"), std::string::npos);
  EXPECT_EQ(reply->Header("cache-control"), "no-store");
  EXPECT_TRUE(client.WaitClosed(5s));
}

TEST_F(HttpServerTest, SlowHeaderClientIsClosedWhileANormalClientIsServed) {
  ServerConfig config = LoopbackConfig();
  config.header_timeout = 2s;
  StartServer(config);
  TestClient slow = Connect();
  const std::string request = "GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaa\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  bool normal_served = false;
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    slow.Send(request.substr(i, 1));  // may fail once the server has closed
    if (i == 1) {                     // a well-behaved client meanwhile
      TestClient normal = Connect();
      auto reply = normal.Post("/echo", "fast");
      normal_served = reply && reply->status == 200;
    }
    closed = slow.WaitClosed(1s);  // one byte per second
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(normal_served);
  EXPECT_TRUE(closed) << "the slow client was never disconnected";
  EXPECT_GE(elapsed, 1500ms);
  EXPECT_LT(elapsed, 6s);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ServerConfig config = LoopbackConfig();
  config.idle_timeout = 1s;
  StartServer(config);
  TestClient client = Connect();
  ASSERT_TRUE(client.Post("/echo", "x"));
  EXPECT_FALSE(client.WaitClosed(300ms));
  EXPECT_TRUE(client.WaitClosed(5s));
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto reply = client.Get("/echo", "Connection: close\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->Header("connection"), "close");
  EXPECT_TRUE(client.WaitClosed(5s));
}

TEST_F(HttpServerTest, RequestIdIsEchoedWhenSaneAndGeneratedOtherwise) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto echoed = client.Get("/echo", "X-Request-Id: trace-42.a_b:c\r\n");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->Header("x-request-id"), "trace-42.a_b:c");
  EXPECT_EQ(echoed->Header("x-seen-request-id"), "trace-42.a_b:c");

  auto generated = client.Get("/echo");
  ASSERT_TRUE(generated);
  EXPECT_TRUE(IsUuidV4(generated->Header("x-request-id")));
  EXPECT_EQ(generated->Header("x-seen-request-id"), generated->Header("x-request-id"));

  for (const std::string& bad :
       {std::string(65, 'a'), std::string("has space"), std::string("semi;colon")}) {
    auto replaced = client.Get("/echo", "X-Request-Id: " + bad + "\r\n");
    ASSERT_TRUE(replaced);
    EXPECT_TRUE(IsUuidV4(replaced->Header("x-request-id"))) << bad;
  }
}

TEST_F(HttpServerTest, HandlerExceptionGives500WithoutDetails) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  auto reply = client.Get("/throw");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 500u);
  EXPECT_NE(reply->body.find(R"("code":"internal")"), std::string::npos);
  EXPECT_EQ(reply->body.find(testing::kSecretExceptionText), std::string::npos);
  EXPECT_FALSE(reply->Header("x-request-id").empty());
  auto after = client.Post("/echo", "still alive");  // the connection survives
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200u);
}

TEST_F(HttpServerTest, BlockingHandlerDoesNotDelayOtherConnections) {
  ServerConfig config = LoopbackConfig();
  config.io_threads = 1;  // if the handler ran on it, everything would wait
  config.worker_threads = 2;
  StartServer(config);
  TestClient sleeper = Connect();
  ASSERT_TRUE(sleeper.Send("GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(100ms);  // the sleep is now running on a worker
  TestClient quick = Connect();
  auto reply = quick.Post("/echo", "quick");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_FALSE(sleeper.Readable()) << "the quick reply should come before the slow one";
  auto slow_reply = sleeper.Read();
  ASSERT_TRUE(slow_reply);
  EXPECT_EQ(slow_reply->body, "slept");
}

TEST_F(HttpServerTest, ConnectionsOverTheCapAreClosedAtOnce) {
  ServerConfig config = LoopbackConfig();
  config.max_connections = 2;
  StartServer(config);
  std::vector<TestClient> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(Connect());
    ASSERT_TRUE(held.back().Post("/echo", "x"));  // accepted and counted
  }
  TestClient extra = Connect();
  extra.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_FALSE(extra.Read(3s).has_value());
  EXPECT_EQ(server_->Stats().rejected_connections, 1u);

  held.pop_back();  // frees a slot
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    std::this_thread::sleep_for(50ms);
    auto client = TestClient::Plain(port_);
    auto reply = client ? client->Post("/echo", "y") : std::nullopt;
    served = reply && reply->status == 200;
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, ObserverSeesStatusesAndLatency) {
  StartServer(LoopbackConfig());
  {
    TestClient client = Connect();
    ASSERT_TRUE(client.Post("/echo", "x"));
    ASSERT_TRUE(client.Post("/echo", std::string(70000, 'x')));
  }
  // The observer runs once the write completed, which may be just after the client read it.
  for (int i = 0; i < 100 && observer_.Statuses().size() < 2; ++i)
    std::this_thread::sleep_for(20ms);
  const auto statuses = observer_.Statuses();
  EXPECT_EQ(statuses, (std::vector<unsigned>{200u, 413u}));
  EXPECT_GT(observer_.latencies.at(0).count(), 0);
  EXPECT_EQ(server_->Stats().requests, 2u);
}

TEST_F(HttpServerTest, StopLetsAnInFlightRequestFinish) {
  StartServer(LoopbackConfig());
  TestClient client = Connect();
  ASSERT_TRUE(client.Send("GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(200ms);
  auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "slept");
  EXPECT_EQ(reply->Header("connection"), "close");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(TestClient::Plain(port_).has_value());  // no longer accepting
}

TEST(HttpServerConfigTest, PlainHttpOnANonLoopbackAddressIsRefusedWithoutTheDevFlag) {
  EchoHandler handler;
  ServerConfig config = LoopbackConfig();
  config.listeners[0].address = "0.0.0.0";
  Server server(config, handler);
  auto status = server.Start();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);

  config.allow_insecure_plain_http = true;
  EXPECT_TRUE(ValidateServerConfig(config));
}

TEST(HttpServerConfigTest, UnusableValuesAreRefused) {
  ServerConfig no_listener;
  EXPECT_FALSE(ValidateServerConfig(no_listener));
  ServerConfig bad_address = LoopbackConfig();
  bad_address.listeners[0].address = "localhost";  // literals only
  EXPECT_FALSE(ValidateServerConfig(bad_address));
  ServerConfig no_workers = LoopbackConfig();
  no_workers.worker_threads = 0;
  EXPECT_FALSE(ValidateServerConfig(no_workers));
  ServerConfig zero_timeout = LoopbackConfig();
  zero_timeout.header_timeout = 0ms;
  EXPECT_FALSE(ValidateServerConfig(zero_timeout));
  EXPECT_TRUE(ValidateServerConfig(LoopbackConfig()));
}

}  // namespace
}  // namespace kmsd::http
