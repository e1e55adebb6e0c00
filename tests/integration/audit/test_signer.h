// A software EC P-256 CheckpointSigner for audit tests only. Production signs
// in the token (hsm KeyService); these tests check the log and verifier, which
// see only the interface and the public key.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "broker/audit/checkpoint_signer.h"
#include "common/openssl_ptr.h"

namespace kmsd::audit::testing {

class SoftwareP256Signer final : public CheckpointSigner {
 public:
  SoftwareP256Signer();  // a fresh key; aborts the test binary if OpenSSL cannot make one
  Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t> message) override;
  std::string KeyId() const override { return "test-p256"; }
  std::vector<std::uint8_t> PublicKeyDer() const;
  std::string PublicKeyPem() const;

 private:
  PkeyPtr key_;
};

}  // namespace kmsd::audit::testing
