// The encrypted recording file format, version 1 (docs/file-format.md is the
// byte-exact description; keep the two in step).
//
//   file   = header chunk+
//   header = "KMSENC\0" 0x01 | ctx_len u8 | ctx_id | chunk_size u32be | salt[32]
//   chunk  = AES-256-GCM(file_key, nonce(index, last), aad = header, plaintext) || tag[16]
//
// The pieces here are pure (no file I/O) so that they can be tested and reused
// by another transport; file_crypto.h streams files through them.
// Thread-safety: free functions are thread-safe; a ChunkCipher is used by one
// thread at a time (each pipeline worker owns one).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl_ptr.h"
#include "common/result.h"
#include "common/secret.h"

namespace kmsd::recording {

inline constexpr std::string_view kMagic{"KMSENC\0", 7};
inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::size_t kMaxContextIdSize = 128;
inline constexpr std::uint32_t kMinChunkSize = 4 * 1024;
inline constexpr std::uint32_t kMaxChunkSize = 16 * 1024 * 1024;
inline constexpr std::uint32_t kDefaultChunkSize = 1024 * 1024;
inline constexpr std::size_t kSaltSize = 32;
inline constexpr std::size_t kDataKeySize = 32;  // AES-256 data key from the broker
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kNonceSize = 12;
// magic+version, context id length byte, chunk size, salt (context id excluded).
inline constexpr std::size_t kFixedHeaderSize = 8 + 1 + 4 + kSaltSize;
inline constexpr std::size_t kMaxHeaderSize = kFixedHeaderSize + kMaxContextIdSize;
// HKDF info prefix; the full info is this label followed by the header bytes.
inline constexpr std::string_view kKdfLabel = "kmsd recording v1";

using Salt = std::array<std::uint8_t, kSaltSize>;
using Nonce = std::array<std::uint8_t, kNonceSize>;

struct FileHeader {
  std::string context_id;  // 1..128 bytes, each printable ASCII 0x21..0x7e
  std::uint32_t chunk_size = kDefaultChunkSize;
  Salt salt{};
};

// Checks the bounds above. kInvalidArgument names the field, never its value.
Status ValidateHeader(const FileHeader& header);

// The header's exact bytes; kInvalidArgument when ValidateHeader fails.
Result<std::vector<std::uint8_t>> EncodeHeader(const FileHeader& header);

// Bytes of the header given its first 9 bytes (magic, version, context id
// length): lets a reader fetch exactly the header and not one byte more.
// kInvalidArgument for a wrong magic, an unknown version or a bad length.
Result<std::size_t> HeaderSizeFromPrefix(std::span<const std::uint8_t> first9);

// Parses exactly one header; `bytes` must be the whole header (no more, no
// less). kInvalidArgument for anything malformed or out of bounds.
Result<FileHeader> ParseHeader(std::span<const std::uint8_t> bytes);

// Per-file key = HKDF-SHA256(ikm = data key, salt = header salt,
// info = kKdfLabel || header bytes), 32 bytes. kInvalidArgument when the data
// key is not 32 bytes; kInternal if OpenSSL fails.
Result<Secret> DeriveFileKey(const Secret& data_key, const Salt& salt,
                             std::span<const std::uint8_t> header_bytes);

// nonce = chunk index (u64 big-endian) || 0x00 0x00 0x00 || last (0x00 / 0x01).
Nonce ChunkNonce(std::uint64_t index, bool last) noexcept;

// Seals and opens chunks of one file in place. Holds the expanded key in an
// OpenSSL context (freed, and so wiped, by OpenSSL on destruction) and a copy
// of the header as AAD. Move-only; one thread at a time.
class ChunkCipher {
 public:
  // kInternal if OpenSSL cannot set the key up.
  static Result<ChunkCipher> Create(const Secret& file_key,
                                    std::span<const std::uint8_t> header_bytes);

  // buf holds the plaintext in its first `plaintext_size` bytes and has room
  // for the tag after it; on return it holds ciphertext || tag.
  Status Seal(std::uint64_t index, bool last, std::span<std::uint8_t> buf,
              std::size_t plaintext_size);

  // record = ciphertext || tag, decrypted in place: on success the first
  // record.size() - 16 bytes are the plaintext. kIntegrity when the record is
  // shorter than a tag, when the tag does not verify (the bytes written so far
  // are wiped before returning), or when an empty last chunk is not chunk 0.
  Status Open(std::uint64_t index, bool last, std::span<std::uint8_t> record);

 private:
  ChunkCipher() = default;
  CipherCtxPtr enc_;
  CipherCtxPtr dec_;
  std::vector<std::uint8_t> aad_;
};

}  // namespace kmsd::recording
