// One daemon per store: the second holder of a store's lock is refused, and
// the lock is free again once its holder is gone.
#include "broker/store/store_lock.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store_test_util.h"

namespace kmsd::store::testing {
namespace {

TEST(StoreLockTest, SecondHolderIsRefusedUntilTheFirstIsGone) {
  TempDir dir;
  const std::string db = (dir.path() / "kmsd.db").string();
  {
    auto first = StoreLock::Acquire(db);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(std::filesystem::exists(db + ".lock"));
    auto second = StoreLock::Acquire(db);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::kConflict);
    EXPECT_NE(second.error().message.find("in use by another kmsd"), std::string::npos);
    auto moved = std::move(*first);  // the lock moves with its holder
    EXPECT_FALSE(StoreLock::Acquire(db));
  }
  EXPECT_TRUE(StoreLock::Acquire(db));
}

TEST(StoreLockTest, UnopenableLockFileIsStoreUnavailable) {
  auto lock = StoreLock::Acquire("/nonexistent-dir/kmsd.db");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().code, ErrorCode::kStoreUnavailable);
}

}  // namespace
}  // namespace kmsd::store::testing
