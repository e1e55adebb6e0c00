#include "broker/jose/signer.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <cerrno>

#include "common/base64.h"
#include "common/scope_guard.h"

namespace kmsd::jose {
namespace {

Error Fail(ErrorCode code, std::string message) {
  ERR_clear_error();
  return MakeError(code, std::move(message));
}

Status WriteAll(int fd, std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(ErrorCode::kInternal, "write failed");
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

// Creates `path` exclusively with `mode`, writes, fsyncs.
Status CreateFile(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                  mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    return MakeError(errno == EEXIST ? ErrorCode::kConflict : ErrorCode::kInternal,
                     "cannot create key file");
  }
  ScopeGuard close_fd([fd] { ::close(fd); });
  if (::fchmod(fd, mode) != 0) return MakeError(ErrorCode::kInternal, "chmod failed");
  if (auto w = WriteAll(fd, bytes); !w) return w;
  if (::fsync(fd) != 0) return MakeError(ErrorCode::kInternal, "fsync failed");
  return {};
}

// Writes via a temp file in the same folder and rename, so readers see the old
// or the new file, never half of one.
Status ReplaceFile(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                   mode_t mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (auto created = CreateFile(tmp, bytes, mode); !created) return created;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return MakeError(ErrorCode::kInternal, "rename failed");
  }
  return {};
}

}  // namespace

Result<JwsSigner> JwsSigner::FromPrivateKeyPem(std::string kid, const Secret& pem, Algorithm alg) {
  if (alg != Algorithm::kES256 && alg != Algorithm::kEdDSA) {
    return Fail(ErrorCode::kInvalidArgument, "signer algorithm not supported");
  }
  BioPtr bio(BIO_new_mem_buf(pem.expose().data(), static_cast<int>(pem.size())));
  if (!bio) return Fail(ErrorCode::kInternal, "cannot read PEM");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || !KeyFitsAlgorithm(key.get(), alg)) {
    return Fail(ErrorCode::kInvalidArgument, "not a private key for the algorithm");
  }
  return JwsSigner(std::move(kid), std::move(key), alg);
}

Result<JwsSigner> JwsSigner::FromPrivateKeyFile(std::string kid, const std::filesystem::path& path,
                                                Algorithm alg) {
  auto pem = ReadPrivateKeyFile(path);
  if (!pem) return pem.error();
  return FromPrivateKeyPem(std::move(kid), *pem, alg);
}

Result<std::vector<std::uint8_t>> JwsSigner::SignBytes(std::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg_ == Algorithm::kEdDSA ? nullptr : EVP_sha256();
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return Fail(ErrorCode::kInternal, "sign failed");
  }
  std::vector<std::uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, data.size()) != 1) {
    return Fail(ErrorCode::kInternal, "sign failed");
  }
  sig.resize(len);
  if (alg_ == Algorithm::kES256) {
    auto raw = EcdsaDerToRaw(sig);
    if (!raw) return Fail(ErrorCode::kInternal, "sign failed");
    return std::move(*raw);
  }
  return sig;
}

Result<std::string> JwsSigner::SignCompact(std::string_view header_json,
                                           std::string_view payload) const {
  std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload);
  auto sig = SignBytes(input);
  if (!sig) return sig.error();
  return input + "." + Base64UrlEncode(*sig);
}

Result<std::string> JwsSigner::Sign(const boost::json::object& claims) const {
  const boost::json::object header{{"alg", AlgorithmName(alg_)}, {"kid", kid_}, {"typ", "JWT"}};
  return SignCompact(boost::json::serialize(header), boost::json::serialize(claims));
}

Result<boost::json::object> JwsSigner::PublicJwk() const {
  boost::json::object jwk;
  if (alg_ == Algorithm::kEdDSA) {
    std::array<std::uint8_t, 32> x{};
    std::size_t len = x.size();
    if (EVP_PKEY_get_raw_public_key(key_.get(), x.data(), &len) != 1 || len != x.size()) {
      return Fail(ErrorCode::kInternal, "cannot export public key");
    }
    jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(x)}};
  } else {
    std::array<std::uint8_t, 65> point{};
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size(), &len) != 1 ||
        len != point.size() || point[0] != 0x04) {
      return Fail(ErrorCode::kInternal, "cannot export public key");
    }
    const std::span<const std::uint8_t> p(point);
    jwk = {{"kty", "EC"},
           {"crv", "P-256"},
           {"x", Base64UrlEncode(p.subspan(1, 32))},
           {"y", Base64UrlEncode(p.subspan(33, 32))}};
  }
  jwk["kid"] = kid_;
  jwk["alg"] = AlgorithmName(alg_);
  jwk["use"] = "sig";
  return jwk;
}

Result<Secret> GeneratePrivateKeyPem(Algorithm alg) {
  PkeyPtr key;
  if (alg == Algorithm::kES256) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  } else if (alg == Algorithm::kEdDSA) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  } else {
    return Fail(ErrorCode::kInvalidArgument, "signer algorithm not supported");
  }
  // A secure-heap-free memory BIO holds the PEM briefly; it is wiped by
  // copying into a Secret and cleansing the BIO buffer before freeing.
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!key || !bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return Fail(ErrorCode::kInternal, "key generation failed");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) return Fail(ErrorCode::kInternal, "key generation failed");
  Secret pem = Secret::CopyOf(std::string_view(data, static_cast<std::size_t>(len)));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return pem;
}

Status WritePrivateKeyFile(const std::filesystem::path& path, const Secret& pem) {
  return CreateFile(path, pem.expose(), 0600);
}

Result<Secret> ReadPrivateKeyFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal,
                     "cannot open key file");
  }
  ScopeGuard close_fd([fd] { ::close(fd); });
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInternal, "key file is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return MakeError(ErrorCode::kPermissionDenied, "key file is accessible by group or others");
  }
  constexpr off_t kMaxKeyFile = 64 * 1024;
  if (st.st_size > kMaxKeyFile) return MakeError(ErrorCode::kInvalidArgument, "key file too large");
  Secret pem(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < pem.size()) {
    const ssize_t n = ::read(fd, pem.mutable_bytes().data() + got, pem.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  pem.truncate(got);
  return pem;
}

Status EnsureDevKeyPair(const std::filesystem::path& private_key_path,
                        const std::filesystem::path& jwks_path, const std::string& kid,
                        Algorithm alg) {
  auto pem = ReadPrivateKeyFile(private_key_path);
  if (!pem && pem.error().code == ErrorCode::kNotFound) {
    auto fresh = GeneratePrivateKeyPem(alg);
    if (!fresh) return fresh.error();
    auto written = WritePrivateKeyFile(private_key_path, *fresh);
    // Lost a race with another creator: use theirs.
    if (!written && written.error().code != ErrorCode::kConflict) return written;
    pem = ReadPrivateKeyFile(private_key_path);
  }
  if (!pem) return pem.error();
  auto signer = JwsSigner::FromPrivateKeyPem(kid, *pem, alg);
  if (!signer) return signer.error();
  auto jwk = signer->PublicJwk();
  if (!jwk) return jwk.error();
  const std::string jwks =
      boost::json::serialize(boost::json::object{{"keys", boost::json::array{*jwk}}}) + "\n";
  return ReplaceFile(jwks_path, {reinterpret_cast<const std::uint8_t*>(jwks.data()), jwks.size()},
                     0644);
}

}  // namespace kmsd::jose
