#include "daemon/api/metered_key_service.h"

#include <chrono>
#include <utility>

namespace kmsd::api {

MeteredKeyService::MeteredKeyService(std::string token, std::shared_ptr<hsm::KeyService> inner,
                                     std::shared_ptr<Metrics> metrics)
    : token_(std::move(token)), inner_(std::move(inner)), metrics_(std::move(metrics)) {}

template <class Call>
auto MeteredKeyService::Timed(std::string_view operation, Call&& call) {
  const auto start = std::chrono::steady_clock::now();
  auto result = call();
  metrics_->RecordHsmCall(token_, operation,
                          std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - start),
                          result.has_value());
  return result;
}

Result<hsm::GeneratedDataKey> MeteredKeyService::GenerateDataKey(
    const hsm::KekId& kek, std::span<const std::uint8_t> aad) {
  return Timed("generate_data_key", [&] { return inner_->GenerateDataKey(kek, aad); });
}

Result<Secret> MeteredKeyService::Unwrap(const hsm::KekId& kek,
                                         std::span<const std::uint8_t> wrapped,
                                         std::span<const std::uint8_t> aad) {
  return Timed("unwrap", [&] { return inner_->Unwrap(kek, wrapped, aad); });
}

Result<std::vector<std::uint8_t>> MeteredKeyService::Rewrap(const hsm::KekId& from,
                                                            std::span<const std::uint8_t> wrapped,
                                                            std::span<const std::uint8_t> old_aad,
                                                            const hsm::KekId& to,
                                                            std::span<const std::uint8_t> new_aad) {
  return Timed("rewrap", [&] { return inner_->Rewrap(from, wrapped, old_aad, to, new_aad); });
}

Status MeteredKeyService::CreateKek(const hsm::KekId& kek) {
  return Timed("create_kek", [&] { return inner_->CreateKek(kek); });
}

Status MeteredKeyService::DestroyKek(const hsm::KekId& kek) {
  return Timed("destroy_kek", [&] { return inner_->DestroyKek(kek); });
}

Result<std::vector<std::uint32_t>> MeteredKeyService::ListKekVersions(std::string_view tenant) {
  return Timed("list_kek_versions", [&] { return inner_->ListKekVersions(tenant); });
}

Status MeteredKeyService::CheckHealth() {
  return Timed("health_check", [&] { return inner_->CheckHealth(); });
}

Result<std::vector<std::uint8_t>> MeteredKeyService::SignAuditCheckpoint(
    std::span<const std::uint8_t> message) {
  return Timed("sign_audit_checkpoint", [&] { return inner_->SignAuditCheckpoint(message); });
}

Result<std::vector<std::uint8_t>> MeteredKeyService::AuditSignerPublicKeyDer() {
  return Timed("audit_signer_public_key", [&] { return inner_->AuditSignerPublicKeyDer(); });
}

}  // namespace kmsd::api
