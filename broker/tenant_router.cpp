#include "broker/tenant_router.h"

namespace kmsd::broker {

bool IsValidTenantName(std::string_view tenant) noexcept {
  if (tenant.empty() || tenant.size() > 64 || tenant[0] == '_' || tenant[0] == '.') return false;
  for (const char c : tenant) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

TenantRouter::TenantRouter(std::shared_ptr<hsm::KeyService> fallback)
    : fallback_(std::move(fallback)) {}

void TenantRouter::Add(std::string tenant, std::shared_ptr<hsm::KeyService> service) {
  routes_[std::move(tenant)] = std::move(service);
}

Result<hsm::KeyService*> TenantRouter::Route(std::string_view tenant) const {
  if (!IsValidTenantName(tenant)) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed tenant name");
  }
  if (const auto it = routes_.find(tenant); it != routes_.end()) return it->second.get();
  if (fallback_ != nullptr) return fallback_.get();
  return MakeError(ErrorCode::kPermissionDenied, "unknown tenant");
}

}  // namespace kmsd::broker
