#include "broker/audit/key_service_signer.h"

#include "broker/audit/chain.h"

namespace kmsd::audit {

KeyServiceCheckpointSigner::KeyServiceCheckpointSigner(hsm::KeyService& service,
                                                       std::vector<std::uint8_t> spki)
    : service_(service),
      public_key_der_(std::move(spki)),
      key_id_("p256:" + ToHex(Sha256(public_key_der_)).substr(0, 16)) {}

Result<std::shared_ptr<KeyServiceCheckpointSigner>> KeyServiceCheckpointSigner::Create(
    hsm::KeyService& service) {
  auto spki = service.AuditSignerPublicKeyDer();
  if (!spki) return spki.error();
  if (!LoadCheckpointPublicKey(*spki)) {
    return MakeError(ErrorCode::kInternal, "audit signer key is not EC P-256");
  }
  return std::shared_ptr<KeyServiceCheckpointSigner>(
      new KeyServiceCheckpointSigner(service, std::move(*spki)));
}

Result<std::vector<std::uint8_t>> KeyServiceCheckpointSigner::Sign(
    std::span<const std::uint8_t> message) {
  return service_.SignAuditCheckpoint(message);
}

}  // namespace kmsd::audit
