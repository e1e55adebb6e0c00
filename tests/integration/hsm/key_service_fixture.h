// A Pkcs11KeyService on a fresh SoftHSM2 token, with KEK acme:v1 created.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string_view>

#include "hsm/pkcs11_key_service.h"
#include "hsm/session_pool.h"
#include "hsm/token_ops.h"
#include "tests/support/softhsm_token.h"

namespace kmsd::hsm {

inline std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KMSD_REQUIRE_SOFTHSM_TOKEN(token_);
    auto service = OpenPkcs11KeyService(token_->Config());
    ASSERT_TRUE(service) << service.error().message;
    service_ = std::move(*service);
    ASSERT_TRUE(service_->CreateKek(kAcme1));
  }

  // Runs `fn(lease)` on a session of the service's own pool.
  template <class Fn>
  void WithLease(Fn fn) {
    auto lease = service_->pool().Acquire();
    ASSERT_TRUE(lease) << lease.error().message;
    fn(*lease);
  }

  std::size_t ObjectCount() {
    std::size_t count = 0;
    WithLease([&](Lease& lease) {
      auto n = CountObjects(lease);
      ASSERT_TRUE(n);
      count = *n;
    });
    return count;
  }

  const KekId kAcme1{"acme", 1};
  std::unique_ptr<testing::SoftHsmToken> token_;
  std::unique_ptr<Pkcs11KeyService> service_;  // destroyed before the token
};

}  // namespace kmsd::hsm
