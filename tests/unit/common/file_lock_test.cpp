// One holder per lock file: a second is refused, also within one process
// (each Acquire opens its own file description), until the first is gone.
#include "common/file_lock.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace kmsd {
namespace {

class FileLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kmsd-lock-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FileLockTest, SecondHolderIsRefusedUntilTheFirstIsGone) {
  const std::string path = (dir_ / "kmsd.db.lock").string();
  {
    auto first = FileLock::Acquire(path, ErrorCode::kStoreUnavailable);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::status(path).permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto second = FileLock::Acquire(path, ErrorCode::kStoreUnavailable);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::kConflict);
    auto moved = std::move(*first);  // the lock moves with its holder
    EXPECT_FALSE(FileLock::Acquire(path, ErrorCode::kStoreUnavailable));
  }
  EXPECT_TRUE(FileLock::Acquire(path, ErrorCode::kStoreUnavailable));
}

TEST_F(FileLockTest, UnopenableLockFileGetsTheCallersCode) {
  auto lock =
      FileLock::Acquire((dir_ / "missing" / "x.lock").string(), ErrorCode::kAuditUnavailable);
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().code, ErrorCode::kAuditUnavailable);
}

}  // namespace
}  // namespace kmsd
