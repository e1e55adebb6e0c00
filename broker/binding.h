// The additional authenticated data (AAD) that binds a wrapped data key to its
// record.
//
// Every wrapped key is sealed with AES-256-GCM whose AAD is this canonical,
// length-prefixed encoding of the record's identity. A record edited at rest —
// asset type changed to dodge a policy, wrapped key moved from another record
// or tenant, KEK version or creation time altered — yields different AAD, so
// the token's tag check fails and the broker reports an integrity error.
//
// Encoding (docs/binding.md):
//   "kmsd-aad" 0x00 | u8 version (=1)
//   | u32be len | tenant | u32be len | context_id | u32be len | asset_type
//   | u32be len | asset_id | i64be created_at (unix microseconds) | u32be kek_version
// Length prefixes make the encoding injective: no two distinct records share
// AAD, whatever bytes their fields hold (a plain concatenation would let
// ("ab","c") and ("a","bc") collide).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace kmsd::broker {

struct RecordBinding {
  std::string_view tenant;
  std::string_view context_id;
  std::string_view asset_type;
  std::string_view asset_id;
  Instant created_at;
  std::uint32_t kek_version = 0;
};

inline constexpr std::uint8_t kBindingVersion = 1;

// Pure; never fails (field lengths are bounded by validation upstream and each
// fits a u32 prefix by construction).
std::vector<std::uint8_t> EncodeBindingAad(const RecordBinding& binding);

}  // namespace kmsd::broker
