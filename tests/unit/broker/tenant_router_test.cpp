#include "broker/tenant_router.h"

#include <gtest/gtest.h>

namespace kmsd::broker {
namespace {

TEST(TenantRouterTest, ConfiguredRoutingRefusesUnknownTenants) {
  TenantRouter router;
  router.Add("acme", nullptr);
  EXPECT_TRUE(router.Route("acme"));
  auto unknown = router.Route("globex");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(router.provisions_on_first_use());
}

TEST(TenantRouterTest, TenantNamesAreValidatedBeforeRouting) {
  TenantRouter router;
  for (const std::string& bad : std::vector<std::string>{
           "", "_health", ".hidden", "a b", "a/b", "a:b", std::string(65, 'a'), "caf\xc3\xa9"}) {
    auto routed = router.Route(bad);
    ASSERT_FALSE(routed) << bad;
    EXPECT_EQ(routed.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(IsValidTenantName(std::string(64, 'a')));
  EXPECT_TRUE(IsValidTenantName("Acme-Corp_1.eu"));
}

}  // namespace
}  // namespace kmsd::broker
