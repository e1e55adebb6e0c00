#include "broker/binding.h"

#include <cstring>
#include <string>

namespace kmsd::broker {
namespace {

void AppendU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::uint8_t(value >> shift));
}

void AppendI64(std::vector<std::uint8_t>& out, std::int64_t value) {
  const auto bits = static_cast<std::uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(std::uint8_t(bits >> shift));
}

// resize + memcpy rather than insert(): g++ 12 reports a false
// -Wstringop-overflow for vector::insert of a string range at -O2.
void AppendBytes(std::vector<std::uint8_t>& out, std::string_view bytes) {
  const std::size_t offset = out.size();
  out.resize(offset + bytes.size());
  if (!bytes.empty()) std::memcpy(out.data() + offset, bytes.data(), bytes.size());
}

void AppendField(std::vector<std::uint8_t>& out, std::string_view field) {
  AppendU32(out, static_cast<std::uint32_t>(field.size()));
  AppendBytes(out, field);
}

constexpr std::string_view kDomain("kmsd-aad\0", 9);

}  // namespace

std::vector<std::uint8_t> EncodeBindingAad(const RecordBinding& b) {
  std::vector<std::uint8_t> out;
  out.reserve(kDomain.size() + 1 + 4 * 4 + b.tenant.size() + b.context_id.size() +
              b.asset_type.size() + b.asset_id.size() + 8 + 4);
  AppendBytes(out, kDomain);
  out.push_back(kBindingVersion);
  AppendField(out, b.tenant);
  AppendField(out, b.context_id);
  AppendField(out, b.asset_type);
  AppendField(out, b.asset_id);
  AppendI64(out, ToUnixMicros(b.created_at));
  AppendU32(out, b.kek_version);
  return out;
}

}  // namespace kmsd::broker
