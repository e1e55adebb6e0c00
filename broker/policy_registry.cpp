#include "broker/policy_registry.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace kmsd::broker {
namespace {

constexpr std::string_view kBuiltInDefault = R"({"default": "allow", "rules": []})";

}  // namespace

PolicyRegistry::PolicyRegistry(store::RecordStore& store) : store_(store) {}

Result<std::shared_ptr<const policy::CompiledPolicy>> PolicyRegistry::Get(std::string_view tenant) {
  {
    std::lock_guard lock(mutex_);
    if (const auto it = cache_.find(tenant); it != cache_.end()) return it->second;
  }
  auto row = store_.GetPolicy(tenant);
  if (!row) return row.error();
  const std::string_view text = *row ? std::string_view((*row)->document_json) : kBuiltInDefault;
  auto compiled = policy::ParsePolicyDocument(text);
  if (!compiled) {
    // Every request of the tenant fails closed (500) until an admin stores a
    // document that parses: the operator must hear of it.
    spdlog::error(
        "stored policy v{} of tenant {} no longer parses; the tenant's requests are "
        "refused until a valid policy is stored",
        *row ? (*row)->version : 0, tenant);
    return MakeError(ErrorCode::kInternal, "stored policy no longer parses");
  }
  if (*row) compiled->SetVersion((*row)->version, (*row)->updated_at);
  auto shared = std::make_shared<const policy::CompiledPolicy>(std::move(*compiled));
  std::lock_guard lock(mutex_);
  // Another thread may have loaded (or a Put stored) meanwhile: keep the newest.
  auto [it, inserted] = cache_.emplace(std::string(tenant), shared);
  if (!inserted && it->second->version() < shared->version()) it->second = shared;
  return it->second;
}

boost::system::result<std::shared_ptr<const policy::CompiledPolicy>, policy::PolicyError>
PolicyRegistry::Put(std::string_view tenant, std::string_view document_json, Instant now,
                    const BeforeStore& before_store) {
  auto compiled = policy::ParsePolicyDocument(document_json);
  if (!compiled) return compiled.error();
  // Store the canonical form, so GET returns what is in force, byte for byte.
  std::string canonical = policy::SerializePolicy(*compiled);
  std::lock_guard put_lock(put_mutex_);
  auto current = store_.GetPolicy(tenant);
  if (!current) return policy::PolicyError{current.error(), {}};
  const std::uint64_t next = (*current ? (*current)->version : 0) + 1;
  if (auto allowed = before_store(next); !allowed) {
    return policy::PolicyError{allowed.error(), {}};
  }
  auto version = store_.PutPolicy(tenant, std::move(canonical), now);
  if (!version) return policy::PolicyError{version.error(), {}};
  if (*version != next) {
    // Only another writer on the same store could cause this; the event
    // already written names the wrong version, so refuse to hide it.
    return policy::PolicyError{
        MakeError(ErrorCode::kInternal, "policy version changed underneath (another writer)"), {}};
  }
  compiled->SetVersion(*version, now);
  auto shared = std::make_shared<const policy::CompiledPolicy>(std::move(*compiled));
  std::lock_guard lock(mutex_);
  auto& slot = cache_[std::string(tenant)];
  if (slot == nullptr || slot->version() < shared->version()) slot = shared;
  return shared;
}

Status PolicyRegistry::Reload() {
  std::vector<std::string> tenants;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [tenant, policy] : cache_) tenants.push_back(tenant);
  }
  std::string kept;
  for (const std::string& tenant : tenants) {
    auto row = store_.GetPolicy(tenant);
    if (!row) return row.error();
    if (!*row) continue;
    auto compiled = policy::ParsePolicyDocument((*row)->document_json);
    if (!compiled) {
      kept += (kept.empty() ? "" : ", ") + tenant;
      continue;
    }
    compiled->SetVersion((*row)->version, (*row)->updated_at);
    auto shared = std::make_shared<const policy::CompiledPolicy>(std::move(*compiled));
    std::lock_guard lock(mutex_);
    cache_[tenant] = std::move(shared);
  }
  if (!kept.empty()) {
    return MakeError(ErrorCode::kInternal,
                     "stored policy no longer parses; previous policy kept for tenant(s) " + kept);
  }
  return {};
}

}  // namespace kmsd::broker
