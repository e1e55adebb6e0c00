#include "cli/recording/format.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <cstring>

namespace kmsd::recording {
namespace {

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalidArgument, message); }

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::uint32_t GetU32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool IsValidContextIdByte(char c) { return c >= 0x21 && c <= 0x7e; }

}  // namespace

Status ValidateHeader(const FileHeader& header) {
  if (header.context_id.empty() || header.context_id.size() > kMaxContextIdSize) {
    return Invalid("recording header: context id length out of bounds (1..128)");
  }
  if (!std::all_of(header.context_id.begin(), header.context_id.end(), IsValidContextIdByte)) {
    return Invalid("recording header: context id has a byte outside printable ASCII");
  }
  if (header.chunk_size < kMinChunkSize || header.chunk_size > kMaxChunkSize) {
    return Invalid("recording header: chunk size out of bounds (4096..16777216)");
  }
  return {};
}

Result<std::vector<std::uint8_t>> EncodeHeader(const FileHeader& header) {
  if (auto ok = ValidateHeader(header); !ok) return ok.error();
  std::vector<std::uint8_t> out;
  out.reserve(kFixedHeaderSize + header.context_id.size());
  out.insert(out.end(), kMagic.begin(), kMagic.end());
  out.push_back(kFormatVersion);
  out.push_back(static_cast<std::uint8_t>(header.context_id.size()));
  out.insert(out.end(), header.context_id.begin(), header.context_id.end());
  PutU32(out, header.chunk_size);
  out.insert(out.end(), header.salt.begin(), header.salt.end());
  return out;
}

Result<std::size_t> HeaderSizeFromPrefix(std::span<const std::uint8_t> first9) {
  if (first9.size() < 9) return Invalid("recording header: truncated");
  if (std::memcmp(first9.data(), kMagic.data(), kMagic.size()) != 0) {
    return Invalid("recording header: not a kmsd encrypted recording (bad magic)");
  }
  if (first9[7] != kFormatVersion) {
    return Invalid("recording header: unsupported format version");
  }
  const std::size_t ctx_len = first9[8];
  if (ctx_len == 0 || ctx_len > kMaxContextIdSize) {
    return Invalid("recording header: context id length out of bounds (1..128)");
  }
  return kFixedHeaderSize + ctx_len;
}

Result<FileHeader> ParseHeader(std::span<const std::uint8_t> bytes) {
  auto size = HeaderSizeFromPrefix(bytes.first(std::min<std::size_t>(bytes.size(), 9)));
  if (!size) return size.error();
  if (bytes.size() != *size) return Invalid("recording header: size does not match its length");
  FileHeader header;
  const std::size_t ctx_len = bytes[8];
  header.context_id.assign(reinterpret_cast<const char*>(bytes.data() + 9), ctx_len);
  header.chunk_size = GetU32(bytes.data() + 9 + ctx_len);
  std::memcpy(header.salt.data(), bytes.data() + 13 + ctx_len, kSaltSize);
  if (auto ok = ValidateHeader(header); !ok) return ok.error();
  return header;
}

Result<Secret> DeriveFileKey(const Secret& data_key, const Salt& salt,
                             std::span<const std::uint8_t> header_bytes) {
  if (data_key.size() != kDataKeySize) {
    return Invalid("recording: data key must be 32 bytes");
  }
  std::vector<std::uint8_t> info(kKdfLabel.begin(), kKdfLabel.end());
  info.insert(info.end(), header_bytes.begin(), header_bytes.end());

  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return MakeError(ErrorCode::kInternal, "recording: HKDF unavailable");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return MakeError(ErrorCode::kInternal, "recording: HKDF context allocation failed");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(data_key.expose().data()), data_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  Secret file_key(kDataKeySize);
  if (EVP_KDF_derive(ctx.get(), file_key.mutable_bytes().data(), file_key.size(), params) != 1) {
    return MakeError(ErrorCode::kInternal, "recording: HKDF derivation failed");
  }
  return file_key;
}

Nonce ChunkNonce(std::uint64_t index, bool last) noexcept {
  Nonce nonce{};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(index >> (56 - 8 * i));
  nonce[11] = last ? 1 : 0;
  return nonce;
}

Result<ChunkCipher> ChunkCipher::Create(const Secret& file_key,
                                        std::span<const std::uint8_t> header_bytes) {
  if (file_key.size() != kDataKeySize) {
    return MakeError(ErrorCode::kInvalidArgument, "recording: file key must be 32 bytes");
  }
  ChunkCipher cipher;
  cipher.enc_.reset(EVP_CIPHER_CTX_new());
  cipher.dec_.reset(EVP_CIPHER_CTX_new());
  // The key schedule is computed once per context; each chunk only sets its IV.
  if (!cipher.enc_ || !cipher.dec_ ||
      EVP_EncryptInit_ex(cipher.enc_.get(), EVP_aes_256_gcm(), nullptr, file_key.expose().data(),
                         nullptr) != 1 ||
      EVP_DecryptInit_ex(cipher.dec_.get(), EVP_aes_256_gcm(), nullptr, file_key.expose().data(),
                         nullptr) != 1) {
    return MakeError(ErrorCode::kInternal, "recording: AES-256-GCM setup failed");
  }
  cipher.aad_.assign(header_bytes.begin(), header_bytes.end());
  return cipher;
}

Status ChunkCipher::Seal(std::uint64_t index, bool last, std::span<std::uint8_t> buf,
                         std::size_t plaintext_size) {
  if (buf.size() < plaintext_size + kTagSize || plaintext_size > kMaxChunkSize) {
    return MakeError(ErrorCode::kInternal, "recording: chunk buffer too small");
  }
  const Nonce nonce = ChunkNonce(index, last);
  EVP_CIPHER_CTX* ctx = enc_.get();
  int len = 0;
  const int n = static_cast<int>(plaintext_size);
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, aad_.data(), static_cast<int>(aad_.size())) != 1 ||
      (n > 0 && EVP_EncryptUpdate(ctx, buf.data(), &len, buf.data(), n) != 1) ||
      EVP_EncryptFinal_ex(ctx, buf.data() + n, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, buf.data() + n) != 1) {
    OPENSSL_cleanse(buf.data(), buf.size());
    return MakeError(ErrorCode::kInternal, "recording: chunk encryption failed");
  }
  return {};
}

Status ChunkCipher::Open(std::uint64_t index, bool last, std::span<std::uint8_t> record) {
  if (record.size() < kTagSize || record.size() > kMaxChunkSize + kTagSize) {
    return MakeError(ErrorCode::kIntegrity, "recording: chunk truncated");
  }
  const int n = static_cast<int>(record.size() - kTagSize);
  // Only an empty file has an empty chunk: a non-first empty last chunk would
  // let a truncated file pass as a shorter one.
  if (n == 0 && index != 0) {
    return MakeError(ErrorCode::kIntegrity, "recording: empty chunk after chunk 0");
  }
  const Nonce nonce = ChunkNonce(index, last);
  EVP_CIPHER_CTX* ctx = dec_.get();
  int len = 0;
  std::uint8_t tag[kTagSize];
  std::memcpy(tag, record.data() + n, kTagSize);
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, aad_.data(), static_cast<int>(aad_.size())) != 1 ||
      (n > 0 && EVP_DecryptUpdate(ctx, record.data(), &len, record.data(), n) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    OPENSSL_cleanse(record.data(), record.size());
    return MakeError(ErrorCode::kInternal, "recording: chunk decryption failed");
  }
  if (EVP_DecryptFinal_ex(ctx, record.data() + n, &len) != 1) {
    // The bytes decrypted in place are unauthenticated: wipe them now.
    OPENSSL_cleanse(record.data(), record.size());
    return MakeError(ErrorCode::kIntegrity,
                     "recording: chunk " + std::to_string(index) + " failed authentication");
  }
  return {};
}

}  // namespace kmsd::recording
