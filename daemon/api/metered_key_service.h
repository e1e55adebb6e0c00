// MeteredKeyService: a KeyService that times every call of the one it wraps
// and reports it to Metrics (kmsd_hsm_operation_duration_seconds by token and
// operation, errors counted). The broker talks to it exactly as to the token:
// it adds no behaviour, only measurement, so /metrics shows the token's share
// of a request apart from the store's and the audit log's.
#pragma once

#include <memory>
#include <string>

#include "daemon/api/metrics.h"
#include "hsm/key_service.h"

namespace kmsd::api {

class MeteredKeyService final : public hsm::KeyService {
 public:
  MeteredKeyService(std::string token, std::shared_ptr<hsm::KeyService> inner,
                    std::shared_ptr<Metrics> metrics);

  Result<hsm::GeneratedDataKey> GenerateDataKey(const hsm::KekId& kek,
                                                std::span<const std::uint8_t> aad) override;
  Result<Secret> Unwrap(const hsm::KekId& kek, std::span<const std::uint8_t> wrapped,
                        std::span<const std::uint8_t> aad) override;
  Result<std::vector<std::uint8_t>> Rewrap(const hsm::KekId& from,
                                           std::span<const std::uint8_t> wrapped,
                                           std::span<const std::uint8_t> old_aad,
                                           const hsm::KekId& to,
                                           std::span<const std::uint8_t> new_aad) override;
  Status CreateKek(const hsm::KekId& kek) override;
  Status DestroyKek(const hsm::KekId& kek) override;
  Result<std::vector<std::uint32_t>> ListKekVersions(std::string_view tenant) override;
  Status CheckHealth() override;
  Result<std::vector<std::uint8_t>> SignAuditCheckpoint(
      std::span<const std::uint8_t> message) override;
  Result<std::vector<std::uint8_t>> AuditSignerPublicKeyDer() override;

 private:
  template <class Call>
  auto Timed(std::string_view operation, Call&& call);

  const std::string token_;
  const std::shared_ptr<hsm::KeyService> inner_;
  const std::shared_ptr<Metrics> metrics_;
};

}  // namespace kmsd::api
