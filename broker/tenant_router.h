// Tenant -> KMS role routing.
//
// Each tenant is served by one KeyService (a PKCS#11 token today, possibly a
// remote KMS role later). Routing is fixed by configuration; in dev mode any
// well-formed tenant name is routed to the dev token and provisioned on first
// use. The router does not own the key services' lifetime policy: it keeps
// them alive for as long as it lives. Thread-safe after construction.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "hsm/key_service.h"

namespace kmsd::broker {

class TenantRouter {
 public:
  // `fallback`, when set, serves every valid tenant name not listed with Add
  // (dev mode). Without it, unlisted tenants are refused.
  explicit TenantRouter(std::shared_ptr<hsm::KeyService> fallback = nullptr);

  // Routes `tenant` to `service`. Start-up only (not thread-safe with Route).
  void Add(std::string tenant, std::shared_ptr<hsm::KeyService> service);

  // The key service of `tenant`. Fails: kPermissionDenied for an unknown
  // tenant (outside dev mode tenants exist only by configuration);
  // kInvalidArgument for a malformed tenant name.
  Result<hsm::KeyService*> Route(std::string_view tenant) const;

  // Whether unknown tenants are provisioned on first use (dev mode).
  bool provisions_on_first_use() const { return fallback_ != nullptr; }

 private:
  std::shared_ptr<hsm::KeyService> fallback_;
  std::map<std::string, std::shared_ptr<hsm::KeyService>, std::less<>> routes_;
};

// Tenant names: [A-Za-z0-9._-]{1,64}, not starting with '_' or '.'.
bool IsValidTenantName(std::string_view tenant) noexcept;

}  // namespace kmsd::broker
