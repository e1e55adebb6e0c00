// CheckpointSigner backed by the token: hsm::KeyService::SignAuditCheckpoint.
//
// Kept in its own library (kmsd_audit_hsm) so that kmsd_audit itself does not
// depend on hsm/. The key id is "p256:" + the first 16 hex digits of
// SHA-256(SPKI DER), so a verifier can tell which public key to use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "broker/audit/checkpoint_signer.h"
#include "hsm/key_service.h"

namespace kmsd::audit {

class KeyServiceCheckpointSigner final : public CheckpointSigner {
 public:
  // Fetches the audit signer's public key (creating the key pair in the token
  // on first use). Fails with what KeyService returns (kHsmUnavailable, ...).
  // The service must outlive the signer.
  static Result<std::shared_ptr<KeyServiceCheckpointSigner>> Create(hsm::KeyService& service);

  Result<std::vector<std::uint8_t>> Sign(std::span<const std::uint8_t> message) override;
  std::string KeyId() const override { return key_id_; }
  const std::vector<std::uint8_t>& public_key_der() const { return public_key_der_; }

 private:
  KeyServiceCheckpointSigner(hsm::KeyService& service, std::vector<std::uint8_t> spki);

  hsm::KeyService& service_;
  std::vector<std::uint8_t> public_key_der_;
  std::string key_id_;
};

}  // namespace kmsd::audit
