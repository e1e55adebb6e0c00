// Recovery of the session pool and module against a real SoftHSM2 token:
// sessions closed underneath, module finalised underneath, a refused PIN,
// and sessions left mid-operation. Plus: no PIN or key bytes in any log.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "hsm/pin_file.h"
#include "tests/integration/hsm/key_service_fixture.h"
#include "tests/support/log_capture.h"

namespace kmsd::hsm {
namespace {

const std::string_view kAad = "ctx";

// Runs generate+unwrap `n` times; returns how many calls failed with
// kHsmUnavailable, and fails the test on any other error.
int RoundTrips(KeyService& service, const KekId& kek, int n) {
  int unavailable = 0;
  for (int i = 0; i < n; ++i) {
    auto g = service.GenerateDataKey(kek, Bytes(kAad));
    if (!g) {
      EXPECT_EQ(g.error().code, ErrorCode::kHsmUnavailable) << g.error().message;
      ++unavailable;
      continue;
    }
    auto u = service.Unwrap(kek, g->wrapped, Bytes(kAad));
    if (!u) {
      EXPECT_EQ(u.error().code, ErrorCode::kHsmUnavailable) << u.error().message;
      ++unavailable;
      continue;
    }
    EXPECT_TRUE(u->Equals(g->plaintext.expose()));
  }
  return unavailable;
}

TEST_F(KeyServiceTest, RecoversWhenAllSessionsAreClosedUnderneath) {
  ASSERT_EQ(RoundTrips(*service_, kAcme1, 20), 0);  // all pool sessions in use once
  EXPECT_EQ(service_->stats().login_attempts, 1u);
  // Closing every session of the application logs the token out, too.
  WithLease([](Lease& lease) { ASSERT_EQ(lease.fn()->C_CloseAllSessions(lease.slot()), CKR_OK); });
  EXPECT_EQ(RoundTrips(*service_, kAcme1, 20), 0);
  const auto stats = service_->stats();
  EXPECT_GE(stats.session_reopens, 1u);
  EXPECT_EQ(stats.login_attempts, 2u);  // logged in again exactly once
  EXPECT_EQ(stats.reinitializations, 0u);
  EXPECT_EQ(stats.unavailable_errors, 0u);
}

TEST_F(KeyServiceTest, RecoversWhenModuleIsFinalizedUnderneath) {
  ASSERT_EQ(RoundTrips(*service_, kAcme1, 10), 0);
  WithLease([](Lease& lease) { ASSERT_EQ(lease.fn()->C_Finalize(nullptr), CKR_OK); });
  EXPECT_LE(RoundTrips(*service_, kAcme1, 20), 1);
  // The last ones certainly worked, without a restart.
  EXPECT_EQ(RoundTrips(*service_, kAcme1, 5), 0);
  EXPECT_EQ(service_->stats().reinitializations, 1u);
  EXPECT_LE(service_->stats().unavailable_errors, 1u);
  EXPECT_TRUE(service_->CheckHealth());
}

TEST_F(KeyServiceTest, ConcurrentCallersAfterFinalizeRecoverOnce) {
  // (Finalising while calls are in flight crashes inside SoftHSM itself, so
  // the event happens between calls; then 8 threads hit the dead module at
  // once and must share a single re-initialisation.)
  ASSERT_EQ(RoundTrips(*service_, kAcme1, 8), 0);
  service_->pool().module().fn()->C_Finalize(nullptr);
  std::atomic<int> unavailable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] { unavailable += RoundTrips(*service_, kAcme1, 10); });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(unavailable.load(), 1);
  EXPECT_EQ(service_->stats().reinitializations, 1u);
  EXPECT_EQ(RoundTrips(*service_, kAcme1, 5), 0);
}

TEST_F(KeyServiceTest, WrongPinIsReportedOnceAndNeverRetried) {
  // Login state is per process and token: close the fixture's service so the
  // token is logged out, but keep the shared module (and its counter) alive.
  auto module = Module::Get(token_->module_path());
  ASSERT_TRUE(module);
  service_.reset();
  auto config = token_->Config();
  config.pin_file = token_->WritePrivateFile("wrong.pin", "not-the-pin");
  const auto before = (*module)->login_attempts();
  auto opened = OpenPkcs11KeyService(config);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ((*module)->login_attempts(), before + 1);
  // We did not lock the token out: the right PIN still works.
  auto good = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(RoundTrips(**good, kAcme1, 2), 0);
}

TEST_F(KeyServiceTest, PinChangedUnderneathIsLatchedNotRetried) {
  ASSERT_EQ(RoundTrips(*service_, kAcme1, 2), 0);
  auto pin = ReadPinFile(token_->pin_file());
  ASSERT_TRUE(pin);
  const std::string new_pin = "changed-pin-123";
  WithLease([&](Lease& lease) {
    ASSERT_EQ(lease.fn()->C_SetPIN(lease.session(), const_cast<CK_UTF8CHAR*>(pin->expose().data()),
                                   pin->size(), (CK_UTF8CHAR*)new_pin.data(), new_pin.size()),
              CKR_OK);
    // Force a re-login, which the old PIN in the pool cannot pass.
    ASSERT_EQ(lease.fn()->C_CloseAllSessions(lease.slot()), CKR_OK);
  });
  const auto before = service_->stats().login_attempts;
  for (int i = 0; i < 10; ++i) {
    auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, ErrorCode::kHsmUnavailable);
  }
  EXPECT_EQ(service_->stats().login_attempts, before + 1);
}

TEST_F(KeyServiceTest, SessionLeftMidOperationIsNotReused) {
  auto config = token_->Config();
  config.pool_size = 1;
  auto single = OpenPkcs11KeyService(config);  // the fixture's service keeps the login
  ASSERT_TRUE(single);
  {
    auto lease = (*single)->pool().Acquire();
    ASSERT_TRUE(lease);
    auto key = FindObjectsByLabel(*lease, CKO_SECRET_KEY, "kmsd:acme:v1", 1);
    ASSERT_TRUE(key);
    ASSERT_EQ(key->size(), 1u);
    std::uint8_t iv[12] = {};
    CK_GCM_PARAMS params{iv, 12, 96, nullptr, 0, 128};
    CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
    ASSERT_EQ(lease->fn()->C_EncryptInit(lease->session(), &mech, key->front()), CKR_OK);
    lease->Discard();
  }
  // With one session, reusing the poisoned one would fail CKR_OPERATION_ACTIVE.
  EXPECT_EQ(RoundTrips(**single, kAcme1, 3), 0);
  EXPECT_EQ((*single)->stats().session_reopens, 1u);
  EXPECT_EQ((*single)->stats().login_attempts, 0u);  // logged in all along (token-wide)
}

TEST_F(KeyServiceTest, LogsAndErrorsContainNoPinOrKeyBytes) {
  testing::LogCapture capture;
  auto pin = ReadPinFile(token_->pin_file());
  ASSERT_TRUE(pin);
  // Exercise every path that logs: open, create, failures, recovery.
  auto other = OpenPkcs11KeyService(token_->Config());
  ASSERT_TRUE(other);
  ASSERT_TRUE((*other)->CreateKek({"acme", 2}));
  auto g = (*other)->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  std::vector<Error> errors;
  errors.push_back((*other)->Unwrap(kAcme1, g->wrapped, Bytes("other")).error());
  auto config = token_->Config();
  config.pin_file = token_->WritePrivateFile("wrong.pin", "wrong-pin-value");
  errors.push_back(OpenPkcs11KeyService(config).error());
  WithLease([](Lease& lease) { lease.fn()->C_Finalize(nullptr); });
  ASSERT_EQ(RoundTrips(**other, kAcme1, 3), 0);
  ASSERT_TRUE((*other)->DestroyKek({"acme", 2}));
  // The key's own formatting is a redaction marker.
  EXPECT_EQ(fmt::format("{}", g->plaintext), "[redacted 32 bytes]");
  spdlog::info("test: data key {}", g->plaintext);

  const std::string text = capture.Text();
  EXPECT_NE(text.find("hsm: created KEK kmsd:acme:v2"), std::string::npos);  // capture works
  EXPECT_NE(text.find("[redacted 32 bytes]"), std::string::npos);
  EXPECT_FALSE(capture.Contains(pin->expose()));
  EXPECT_FALSE(capture.Contains(Bytes("wrong-pin-value")));
  EXPECT_FALSE(capture.Contains(g->plaintext.expose()));
  for (const Error& e : errors) {
    EXPECT_EQ(e.message.find(std::string(pin->expose_chars())), std::string::npos);
    EXPECT_EQ(e.message.find("wrong-pin-value"), std::string::npos);
  }
}

}  // namespace
}  // namespace kmsd::hsm

namespace kmsd::hsm {
namespace {

// Runs `body` in a forked child; returns its exit status (0 = passed).
template <class Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

int ChildRoundTrip(const testing::SoftHsmToken& token) {
  auto service = OpenPkcs11KeyService(token.Config());
  if (!service) return 2;
  auto g = (*service)->GenerateDataKey({"acme", 1}, {});
  if (!g) return 3;
  auto u = (*service)->Unwrap({"acme", 1}, g->wrapped, {});
  return u && u->Equals(g->plaintext.expose()) ? 0 : 4;
}

TEST_F(KeyServiceTest, ForkedChildInitialisesItsOwnModule) {
  // The parent has initialised the module and holds sessions; a child that
  // opens its own service must start clean, and the parent must carry on.
  EXPECT_EQ(InChild([&] { return ChildRoundTrip(*token_); }), 0);
  auto g = service_->GenerateDataKey(kAcme1, {});
  ASSERT_TRUE(g);
  EXPECT_TRUE(service_->Unwrap(kAcme1, g->wrapped, {}));
}

TEST_F(KeyServiceTest, ForkBeforeFirstUseInitialisesOnlyInChild) {
  service_.reset();  // nothing initialised in this process from here on
  EXPECT_EQ(InChild([&] { return ChildRoundTrip(*token_); }), 0);
  EXPECT_EQ(InChild([&] { return ChildRoundTrip(*token_); }), 0);
}

}  // namespace
}  // namespace kmsd::hsm

namespace kmsd::hsm {
namespace {

// Sessions this process has open in the token. SoftHSM numbers session
// handles from 1 and reports no session count, so probe the handles.
std::size_t OpenSessionCount(Lease& lease) {
  std::size_t open = 0;
  for (CK_SESSION_HANDLE h = 1; h <= 4096; ++h) {
    CK_SESSION_INFO info{};
    if (lease.fn()->C_GetSessionInfo(h, &info) == CKR_OK) ++open;
  }
  return open;
}

// Logged out underneath again and again, with a cached KEK handle: every
// call recovers (the pool logs in again, token-wide, instead of spending its
// one retry on another logged-out idle session, which failed before), and no
// session is leaked on the way.
TEST_F(KeyServiceTest, RepeatedLogoutsUnderneathRecoverEveryTimeAndLeakNoSessions) {
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  std::size_t before = 0;
  WithLease([&](Lease& lease) { before = OpenSessionCount(lease); });
  ASSERT_GE(before, 1u);
  for (int i = 0; i < 20; ++i) {
    WithLease([](Lease& lease) { ASSERT_EQ(lease.fn()->C_Logout(lease.session()), CKR_OK); });
    auto u = service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad));  // cached handle
    ASSERT_TRUE(u) << "after logout " << i << ": " << u.error().message;
  }
  std::size_t after = 0;
  WithLease([&](Lease& lease) { after = OpenSessionCount(lease); });
  EXPECT_LE(after, before + 1) << "sessions leaked across 20 logouts";
}

TEST_F(KeyServiceTest, RecoversWhenTokenIsLoggedOutUnderneath) {
  ASSERT_TRUE(service_->CreateKek({"acme", 2}));  // never used: its handle is not cached
  auto g = service_->GenerateDataKey(kAcme1, Bytes(kAad));
  ASSERT_TRUE(g);
  const auto logins = service_->stats().login_attempts;
  // Logout is token-wide: every pool session stays open but loses its login.
  // Depending on the token, a search then misses private KEKs (handled in
  // FindKey) or the key use fails with CKR_USER_NOT_LOGGED_IN (session-level).
  auto logout = [&] {
    WithLease([](Lease& lease) { ASSERT_EQ(lease.fn()->C_Logout(lease.session()), CKR_OK); });
  };
  logout();
  auto uncached = service_->GenerateDataKey({"acme", 2}, Bytes(kAad));
  ASSERT_TRUE(uncached) << uncached.error().message;
  logout();
  auto u = service_->Unwrap(kAcme1, g->wrapped, Bytes(kAad));  // cached handle
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->Equals(g->plaintext.expose()));
  EXPECT_EQ(service_->stats().unavailable_errors, 0u);
  EXPECT_EQ(service_->stats().login_attempts, logins + 2);
}

}  // namespace
}  // namespace kmsd::hsm
