#include "common/locked_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/secret.h"

namespace kmsd {
namespace {

// The kernel's flags for the mapping that holds `address` (/proc/self/smaps
// "VmFlags:", e.g. "rd wr mr mw me lo dd"), split into words; empty if none.
std::vector<std::string> MappingFlags(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start <= at && at < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      std::istringstream words(line.substr(8));
      std::vector<std::string> flags;
      for (std::string word; words >> word;) flags.push_back(word);
      return flags;
    }
  }
  return {};
}

bool Has(const std::vector<std::string>& flags, const char* flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::uintptr_t PageOf(const Secret& secret) {
  return reinterpret_cast<std::uintptr_t>(secret.expose().data()) /
         static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
}

// mlock is per page and does not count: before the pool, a Secret that died
// unlocked the page it shared with a live one.
TEST(LockedPoolTest, FreeingASecretLeavesItsPageNeighbourLocked) {
  std::vector<std::unique_ptr<Secret>> secrets;
  for (int i = 0; i < 2; ++i) secrets.push_back(std::make_unique<Secret>(32));
  while (PageOf(*secrets[secrets.size() - 2]) != PageOf(*secrets.back())) {
    ASSERT_LT(secrets.size(), 1000u) << "no two 32-byte secrets on one page";
    secrets.push_back(std::make_unique<Secret>(32));
  }
  std::unique_ptr<Secret> survivor = std::move(secrets.back());
  secrets.pop_back();
  if (!Has(MappingFlags(survivor->expose().data()), "lo")) {
    GTEST_SKIP() << "this process cannot lock memory (RLIMIT_MEMLOCK, or AddressSanitizer, "
                    "whose mlock does nothing)";
  }
  secrets.pop_back();  // the neighbour on the same page
  secrets.clear();
  EXPECT_TRUE(Has(MappingFlags(survivor->expose().data()), "lo"));
}

TEST(LockedPoolTest, SecretsOfEverySizeAreLeftOutOfCoreDumps) {
  for (std::size_t n : {1u, 32u, 2048u, 2049u, 100000u}) {
    const Secret secret(n);
    EXPECT_TRUE(Has(MappingFlags(secret.expose().data()), "dd")) << n << " bytes";
  }
}

TEST(LockedPoolTest, AReusedSlotIsZeroFilledAndWipedOnFree) {
  const locked_pool::Block first = locked_pool::Allocate(40);
  ASSERT_EQ(first.capacity, 64u);
  std::fill_n(first.data, 40, 0xA5);
  locked_pool::Free(first);
#if !defined(__SANITIZE_ADDRESS__)  // there, a free slot is poisoned: reading it is the error
  // The slot now holds zeros but for its free-list link (the first 8 bytes).
  EXPECT_TRUE(std::all_of(first.data + 8, first.data + first.capacity,
                          [](std::uint8_t b) { return b == 0; }));
#endif
  const locked_pool::Block again = locked_pool::Allocate(64);
  EXPECT_EQ(again.data, first.data);  // last freed, first reused
  EXPECT_TRUE(
      std::all_of(again.data, again.data + again.capacity, [](std::uint8_t b) { return b == 0; }));
  locked_pool::Free(again);
}

#if defined(__SANITIZE_ADDRESS__)
// A sanitizer build still sees an overrun of a Secret, though it is not on the heap.
TEST(LockedPoolDeathTest, AnOverrunPastASecretIsCaughtByAddressSanitizer) {
  EXPECT_DEATH(
      {
        Secret secret(40);
        volatile std::uint8_t* bytes = secret.mutable_bytes().data();
        bytes[40] = 1;
      },
      "use-after-poison");
}
#endif

TEST(LockedPoolTest, LargeSecretsGetPagesOfTheirOwnThatGoAwayWithThem) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const auto before = locked_pool::CurrentStats();
  {
    const locked_pool::Block large = locked_pool::Allocate(page + 1);
    EXPECT_EQ(large.capacity, 2 * page);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data) % page, 0u);
    EXPECT_EQ(locked_pool::CurrentStats().mapped_bytes, before.mapped_bytes + 2 * page);
    EXPECT_EQ(locked_pool::CurrentStats().blocks_in_use, before.blocks_in_use + 1);
    locked_pool::Free(large);
  }
  EXPECT_EQ(locked_pool::CurrentStats().mapped_bytes, before.mapped_bytes);
  EXPECT_EQ(locked_pool::CurrentStats().blocks_in_use, before.blocks_in_use);
}

// Threads allocating and freeing at once never share a block: each writes
// its own pattern and finds it intact before freeing.
TEST(LockedPoolTest, ConcurrentSecretsNeverShareBytes) {
  const auto before = locked_pool::CurrentStats().blocks_in_use;
  std::vector<std::thread> threads;
  std::vector<int> corrupted(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &corrupted] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<Secret> held;
      for (int i = 0; i < 4000; ++i) {
        Secret secret(1 + rng() % 3000);
        std::fill(secret.mutable_bytes().begin(), secret.mutable_bytes().end(),
                  static_cast<std::uint8_t>(t + 1));
        held.push_back(std::move(secret));
        if (held.size() > 16) {
          const Secret& oldest = held.front();
          for (std::uint8_t b : oldest.expose()) corrupted[t] += b != t + 1;
          held.erase(held.begin());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(corrupted, std::vector<int>(8, 0));
  EXPECT_EQ(locked_pool::CurrentStats().blocks_in_use, before);
}

}  // namespace
}  // namespace kmsd
