#include "common/base64.h"

#include <array>

namespace kmsd {
namespace {

enum class Alphabet { kStandard, kUrl };

constexpr std::string_view kStandardChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t kInvalid = 0xff;

constexpr std::array<std::uint8_t, 256> MakeTable(std::string_view chars) {
  std::array<std::uint8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  for (std::size_t i = 0; i < chars.size(); ++i) {
    table[static_cast<unsigned char>(chars[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr auto kStandardTable = MakeTable(kStandardChars);
constexpr auto kUrlTable = MakeTable(kUrlChars);

std::string Encode(std::span<const std::uint8_t> in, Alphabet alphabet) {
  const std::string_view chars = alphabet == Alphabet::kStandard ? kStandardChars : kUrlChars;
  const bool pad = alphabet == Alphabet::kStandard;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    out.push_back(chars[(v >> 18) & 63]);
    out.push_back(chars[(v >> 12) & 63]);
    out.push_back(chars[(v >> 6) & 63]);
    out.push_back(chars[v & 63]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out.push_back(chars[(v >> 18) & 63]);
    out.push_back(chars[(v >> 12) & 63]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out.push_back(chars[(v >> 18) & 63]);
    out.push_back(chars[(v >> 12) & 63]);
    out.push_back(chars[(v >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

Error Invalid() { return MakeError(ErrorCode::kInvalidArgument, "invalid base64 encoding"); }

// Validates `text` as the canonical encoding and returns the decoded length,
// with `text` trimmed of its padding.
Result<std::size_t> CheckCanonical(std::string_view& text, Alphabet alphabet) {
  std::size_t data_chars = text.size();
  if (alphabet == Alphabet::kStandard) {
    if (text.size() % 4 != 0) return Invalid();
    std::size_t padding = 0;
    while (padding < 2 && data_chars > 0 && text[data_chars - 1] == '=') {
      --data_chars;
      ++padding;
    }
  }
  // A final group of one character carries no whole byte: no encoder emits it.
  if (data_chars % 4 == 1) return Invalid();
  text = text.substr(0, data_chars);
  const auto& table = alphabet == Alphabet::kStandard ? kStandardTable : kUrlTable;
  for (const char c : text) {
    if (table[static_cast<unsigned char>(c)] == kInvalid) return Invalid();
  }
  // Unused low bits of the last character must be zero, or two texts would
  // decode to the same bytes.
  const std::size_t tail = data_chars % 4;
  if (tail != 0) {
    const std::uint8_t last = table[static_cast<unsigned char>(text.back())];
    const std::uint8_t unused_mask = tail == 2 ? 0x0f : 0x03;
    if ((last & unused_mask) != 0) return Invalid();
  }
  return data_chars / 4 * 3 + (tail == 0 ? 0 : tail - 1);
}

// Decodes validated, unpadded text into out (exactly sized by CheckCanonical).
void DecodeInto(std::string_view text, Alphabet alphabet, std::span<std::uint8_t> out) {
  const auto& table = alphabet == Alphabet::kStandard ? kStandardTable : kUrlTable;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pos = 0;
  for (const char c : text) {
    acc = (acc << 6) | table[static_cast<unsigned char>(c)];
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
    }
  }
}

Result<std::vector<std::uint8_t>> DecodeVector(std::string_view text, Alphabet alphabet) {
  auto size = CheckCanonical(text, alphabet);
  if (!size) return size.error();
  std::vector<std::uint8_t> out(*size);
  DecodeInto(text, alphabet, out);
  return out;
}

Result<Secret> DecodeSecret(std::string_view text, Alphabet alphabet) {
  auto size = CheckCanonical(text, alphabet);
  if (!size) return size.error();
  Secret out(*size);
  DecodeInto(text, alphabet, out.mutable_bytes());
  return out;
}

}  // namespace

std::string Base64Encode(std::span<const std::uint8_t> bytes) {
  return Encode(bytes, Alphabet::kStandard);
}

std::string Base64UrlEncode(std::span<const std::uint8_t> bytes) {
  return Encode(bytes, Alphabet::kUrl);
}

std::string Base64UrlEncode(std::string_view bytes) {
  return Encode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()},
                Alphabet::kUrl);
}

Result<std::vector<std::uint8_t>> Base64Decode(std::string_view text) {
  return DecodeVector(text, Alphabet::kStandard);
}

Result<std::vector<std::uint8_t>> Base64UrlDecode(std::string_view text) {
  return DecodeVector(text, Alphabet::kUrl);
}

Result<Secret> Base64DecodeSecret(std::string_view text) {
  return DecodeSecret(text, Alphabet::kStandard);
}

Result<Secret> Base64UrlDecodeSecret(std::string_view text) {
  return DecodeSecret(text, Alphabet::kUrl);
}

}  // namespace kmsd
