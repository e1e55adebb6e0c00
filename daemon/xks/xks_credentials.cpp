// Reading a SigV4 credential file: one line ACCESS_KEY_ID:SECRET_ACCESS_KEY.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/secret_file.h"
#include "daemon/xks/xks_handler.h"

namespace kmsd::xks {
namespace {

// "ABC:secret" → Credential; the secret goes straight into a Secret.
Result<sigv4::Credential> ParseCredential(const Secret& text, const std::string& path) {
  std::string_view view = text.expose_chars();
  if (!view.empty() && view.back() == '\n') view.remove_suffix(1);
  if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
  const auto colon = view.find(':');
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     path + ": must hold one line ACCESS_KEY_ID:SECRET_ACCESS_KEY");
  };
  if (colon == std::string_view::npos) return bad();
  const std::string_view id = view.substr(0, colon);
  const std::string_view secret = view.substr(colon + 1);
  const bool id_ok =
      !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '_' || c == '-';
      });
  const bool secret_ok = !secret.empty() && secret.size() <= 128 &&
                         secret.find_first_of("\r\n") == std::string_view::npos;
  if (!id_ok || !secret_ok) return bad();
  return sigv4::Credential{std::string(id), Secret::CopyOf(secret)};
}

}  // namespace

Result<sigv4::Credential> ReadCredentialFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return MakeError(ErrorCode::kInvalidArgument, path + ": cannot be read");
  if (auto mode = CheckSecretFileMode(::fileno(f), "SigV4 credential file", path); !mode) {
    std::fclose(f);
    return mode.error();
  }
  Secret buffer(1024 + 1);
  const std::size_t n = std::fread(buffer.mutable_bytes().data(), 1, buffer.size(), f);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed || n > 1024) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": cannot be read (or over 1 KiB)");
  }
  buffer.truncate(n);
  return ParseCredential(buffer, path);
}

}  // namespace kmsd::xks
