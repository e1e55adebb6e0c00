#include "broker/binding.h"

#include <gtest/gtest.h>

namespace kmsd::broker {
namespace {

RecordBinding Base() {
  return {"acme", "ctx-1", "recording", "mtg-1", FromUnixMicros(1'700'000'000'000'000), 3};
}

TEST(BindingAadTest, LayoutIsTheDocumentedOne) {
  const auto aad = EncodeBindingAad({"t", "c", "a", "i", FromUnixMicros(0x0102030405060708), 9});
  const std::vector<std::uint8_t> expected = {'k', 'm', 's', 'd', '-', 'a', 'a', 'd', 0, 1,  //
                                              0,   0,   0,   1,   't', 0,   0,   0,   1, 'c',
                                              0,   0,   0,   1,   'a', 0,   0,   0,   1, 'i',
                                              1,   2,   3,   4,   5,   6,   7,   8,  //
                                              0,   0,   0,   9};
  EXPECT_EQ(aad, expected);
}

TEST(BindingAadTest, EveryFieldChangesTheAad) {
  const auto base = EncodeBindingAad(Base());
  auto changed = [&](auto mutate) {
    RecordBinding b = Base();
    mutate(b);
    return EncodeBindingAad(b) != base;
  };
  EXPECT_TRUE(changed([](RecordBinding& b) { b.tenant = "acmf"; }));
  EXPECT_TRUE(changed([](RecordBinding& b) { b.context_id = "ctx-2"; }));
  EXPECT_TRUE(changed([](RecordBinding& b) { b.asset_type = "meeting"; }));
  EXPECT_TRUE(changed([](RecordBinding& b) { b.asset_id = "mtg-2"; }));
  EXPECT_TRUE(changed([](RecordBinding& b) { b.created_at += std::chrono::microseconds(1); }));
  EXPECT_TRUE(changed([](RecordBinding& b) { b.kek_version = 4; }));
}

// A plain concatenation would make these equal; length prefixes keep them apart.
TEST(BindingAadTest, ShiftingBytesBetweenFieldsDoesNotCollide) {
  RecordBinding a = Base();
  RecordBinding b = Base();
  a.asset_type = "recording";
  a.asset_id = "x";
  b.asset_type = "recordin";
  b.asset_id = "gx";
  EXPECT_NE(EncodeBindingAad(a), EncodeBindingAad(b));
  a = Base();
  b = Base();
  a.tenant = "ac";
  a.context_id = "me-ctx";
  b.tenant = "acme";
  b.context_id = "-ctx";
  EXPECT_NE(EncodeBindingAad(a), EncodeBindingAad(b));
}

}  // namespace
}  // namespace kmsd::broker
