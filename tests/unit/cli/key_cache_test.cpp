#include "cli/client/key_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace kmsd::client {
namespace {

using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  Instant Now() const override { return now_; }
  void Advance(std::chrono::microseconds d) { now_ += d; }

 private:
  Instant now_ = FromUnixMicros(1'800'000'000'000'000);
};

Secret KeyOf(std::uint8_t fill) {
  Secret key(32);
  std::fill(key.mutable_bytes().begin(), key.mutable_bytes().end(), fill);
  return key;
}

struct Fixture {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::vector<std::vector<std::uint8_t>> wiped;  // bytes seen by after_wipe
  KeyCacheOptions Options(std::size_t max_entries, std::chrono::microseconds ttl) {
    KeyCacheOptions options;
    options.max_entries = max_entries;
    options.ttl = ttl;
    options.clock = clock;
    options.after_wipe = [this](std::span<const std::uint8_t> bytes) {
      wiped.emplace_back(bytes.begin(), bytes.end());
    };
    return options;
  }
  bool AllWipedToZero() const {
    return std::all_of(wiped.begin(), wiped.end(), [](const auto& bytes) {
      return bytes.size() == 32 &&
             std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
    });
  }
};

TEST(KeyCacheTest, ReturnsACopyOfTheKeyWithinItsTtl) {
  Fixture f;
  KeyCache cache(f.Options(4, 60s));
  cache.Put("scope", "ctx-1", KeyOf(0xab));
  f.clock->Advance(59s);
  auto hit = cache.Get("scope", "ctx-1");
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->Equals(KeyOf(0xab).expose()));
}

TEST(KeyCacheTest, ExpiredEntryIsNeverReturnedAndIsWiped) {
  Fixture f;
  KeyCache cache(f.Options(4, 60s));
  cache.Put("scope", "ctx-1", KeyOf(0xab));
  f.clock->Advance(60s);  // expiry is exclusive: at exactly ttl it is gone
  EXPECT_FALSE(cache.Get("scope", "ctx-1"));
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_EQ(f.wiped.size(), 1u);
  EXPECT_TRUE(f.AllWipedToZero());
}

TEST(KeyCacheTest, UseDoesNotExtendTheTtl) {
  Fixture f;
  KeyCache cache(f.Options(4, 60s));
  cache.Put("scope", "ctx-1", KeyOf(1));
  f.clock->Advance(50s);
  EXPECT_TRUE(cache.Get("scope", "ctx-1"));
  f.clock->Advance(20s);
  EXPECT_FALSE(cache.Get("scope", "ctx-1"));
}

TEST(KeyCacheTest, FullCacheEvictsLeastRecentlyUsedAndWipesIt) {
  Fixture f;
  KeyCache cache(f.Options(3, 1h));
  cache.Put("s", "a", KeyOf(1));
  cache.Put("s", "b", KeyOf(2));
  cache.Put("s", "c", KeyOf(3));
  EXPECT_TRUE(cache.Get("s", "a"));  // a is now the most recently used; b the least
  cache.Put("s", "d", KeyOf(4));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Get("s", "b"));
  EXPECT_TRUE(cache.Get("s", "a"));
  EXPECT_TRUE(cache.Get("s", "c"));
  EXPECT_TRUE(cache.Get("s", "d"));
  ASSERT_EQ(f.wiped.size(), 1u);
  EXPECT_TRUE(f.AllWipedToZero());
}

TEST(KeyCacheTest, NeverHoldsMoreThanMaxEntries) {
  Fixture f;
  KeyCache cache(f.Options(8, 1h));
  for (int i = 0; i < 100; ++i) {
    cache.Put("s", "ctx-" + std::to_string(i), KeyOf(static_cast<std::uint8_t>(i)));
    EXPECT_LE(cache.size(), 8u);
  }
  EXPECT_EQ(f.wiped.size(), 92u);
  EXPECT_TRUE(f.AllWipedToZero());
}

TEST(KeyCacheTest, ExpiredEntriesGoBeforeLiveOnesWhenFull) {
  Fixture f;
  KeyCache cache(f.Options(2, 60s));
  cache.Put("s", "old", KeyOf(1));
  f.clock->Advance(30s);
  cache.Put("s", "live", KeyOf(2));
  EXPECT_TRUE(cache.Get("s", "old"));  // old is most recently used, but expires first
  f.clock->Advance(31s);               // old expired, live still valid
  cache.Put("s", "new", KeyOf(3));
  EXPECT_TRUE(cache.Get("s", "live"));
  EXPECT_TRUE(cache.Get("s", "new"));
}

TEST(KeyCacheTest, ScopesAreSeparate) {
  Fixture f;
  KeyCache cache(f.Options(4, 1h));
  cache.Put("tenant-a", "ctx", KeyOf(1));
  EXPECT_FALSE(cache.Get("tenant-b", "ctx"));
  EXPECT_TRUE(cache.Get("tenant-a", "ctx"));
}

TEST(KeyCacheTest, PutReplacesAndWipesTheOldKey) {
  Fixture f;
  KeyCache cache(f.Options(4, 1h));
  cache.Put("s", "ctx", KeyOf(1));
  cache.Put("s", "ctx", KeyOf(2));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Get("s", "ctx")->Equals(KeyOf(2).expose()));
  ASSERT_EQ(f.wiped.size(), 1u);
  EXPECT_TRUE(f.AllWipedToZero());
}

TEST(KeyCacheTest, EraseClearAndDestructionWipeEveryEntry) {
  Fixture f;
  {
    KeyCache cache(f.Options(8, 1h));
    for (int i = 0; i < 5; ++i) cache.Put("s", std::to_string(i), KeyOf(0xff));
    cache.Erase("s", "0");
    EXPECT_EQ(f.wiped.size(), 1u);
    cache.Clear();
    EXPECT_EQ(f.wiped.size(), 5u);
    EXPECT_EQ(cache.size(), 0u);
    cache.Put("s", "x", KeyOf(0xff));
    cache.Put("s", "y", KeyOf(0xff));
  }  // destructor, as at exit
  EXPECT_EQ(f.wiped.size(), 7u);
  EXPECT_TRUE(f.AllWipedToZero());
}

TEST(KeyCacheTest, ZeroCapacityStoresNothing) {
  Fixture f;
  KeyCache cache(f.Options(0, 1h));
  cache.Put("s", "ctx", KeyOf(1));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Get("s", "ctx"));
}

TEST(KeyCacheTest, ConcurrentUseKeepsTheBound) {
  KeyCacheOptions options;
  options.max_entries = 16;
  options.ttl = 1h;
  KeyCache cache(options);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const auto id = std::to_string((i * 7 + t) % 40);
        const auto fill = static_cast<std::uint8_t>((i * 7 + t) % 40);
        cache.Put("s", id, KeyOf(fill));
        if (auto hit = cache.Get("s", id); hit && !hit->Equals(KeyOf(fill).expose())) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(cache.size(), 16u);
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace kmsd::client
