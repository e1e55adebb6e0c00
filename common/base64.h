// Strict base64 codecs (RFC 4648).
//
// Two alphabets, one form each, so that every byte string has exactly one
// accepted text:
//   - standard (§4), always padded with '=' to a multiple of 4 characters: the
//     HTTP contract's form for key material and binary fields;
//   - base64url (§5) without padding: the JOSE form (RFC 7515 §2).
// Decoding refuses everything that is not the canonical encoding: characters
// outside the alphabet (including whitespace and the other alphabet), wrong or
// missing padding (standard), any padding (url), a length that no encoding
// has, and non-zero bits in the last character beyond the data. Failures are
// kInvalidArgument with a message that never echoes the input.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace kmsd {

std::string Base64Encode(std::span<const std::uint8_t> bytes);
std::string Base64UrlEncode(std::span<const std::uint8_t> bytes);
// Convenience for text payloads (e.g. JSON headers): encodes the chars' bytes.
std::string Base64UrlEncode(std::string_view bytes);

Result<std::vector<std::uint8_t>> Base64Decode(std::string_view text);
Result<std::vector<std::uint8_t>> Base64UrlDecode(std::string_view text);

// As above, but decodes straight into a wiping buffer: use for key material so
// that no plain copy of the decoded bytes is left behind. The caller wipes its
// own copy of the text.
Result<Secret> Base64DecodeSecret(std::string_view text);
Result<Secret> Base64UrlDecodeSecret(std::string_view text);

}  // namespace kmsd
