#include "daemon/xks/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

namespace kmsd::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::size_t kMaxSignedHeaders = 32;

VerifyError Fail(Failure failure, std::string message) { return {failure, std::move(message)}; }

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %HH triplets; a '%' not followed by two hex digits stays literal.
std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

std::string PercentEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (Unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0F];
  }
  return out;
}

using Mac = std::array<std::uint8_t, 32>;

Mac Hmac(std::span<const std::uint8_t> key, std::string_view data) {
  Mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    parts.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

std::optional<std::string_view> FindHeader(const Request& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (IEquals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void throw_exception_from_error(const VerifyError& error, const boost::source_location&) {
  throw std::runtime_error("sigv4: " + error.message);
}

std::string_view FailureName(Failure failure) noexcept {
  switch (failure) {
    case Failure::kMissingAuthorization: return "missing_authorization";
    case Failure::kMalformed: return "malformed";
    case Failure::kScopeMismatch: return "scope_mismatch";
    case Failure::kClockSkew: return "clock_skew";
    case Failure::kUnknownAccessKey: return "unknown_access_key";
    case Failure::kSignatureMismatch: return "signature_mismatch";
  }
  return "unknown";
}

std::string Sha256Hex(std::string_view data) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return Hex(digest);
}

std::optional<Instant> ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  if (!AllDigits(text.substr(0, 8)) || !AllDigits(text.substr(9, 6))) return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = 0; i < len; ++i) v = v * 10 + (text[pos + i] - '0');
    return v;
  };
  const std::chrono::year_month_day day{std::chrono::year(number(0, 4)),
                                        std::chrono::month(static_cast<unsigned>(number(4, 2))),
                                        std::chrono::day(static_cast<unsigned>(number(6, 2)))};
  const int hh = number(9, 2), mm = number(11, 2), ss = number(13, 2);
  if (!day.ok() || hh > 23 || mm > 59 || ss > 59) return std::nullopt;
  return Instant(std::chrono::sys_days(day)) + std::chrono::hours(hh) + std::chrono::minutes(mm) +
         std::chrono::seconds(ss);
}

std::string CanonicalUri(std::string_view path) {
  std::vector<std::string> segments;
  const auto parts = Split(path, '/');
  for (std::string_view raw : parts) {
    const std::string segment = PercentDecode(raw);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out += '/';
    out += PercentEncode(segments[i]);
  }
  // A trailing slash is kept ("/a/" stays "/a/") unless the path is the root.
  if (!segments.empty() && parts.back().empty()) out += '/';
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  if (query.empty()) return {};
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::string_view item : Split(query, '&')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    pairs.emplace_back(PercentEncode(PercentDecode(key)), PercentEncode(PercentDecode(value)));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out += '&';
    out += pairs[i].first + "=" + pairs[i].second;
  }
  return out;
}

VerifyResult<std::string> CanonicalRequest(const Request& request,
                                           const std::vector<std::string>& signed_headers) {
  std::string_view path = request.target;
  std::string_view query;
  if (const auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  std::string out;
  out.reserve(256 + request.target.size());
  out.append(request.method).append("\n");
  out.append(CanonicalUri(path)).append("\n");
  out.append(CanonicalQuery(query)).append("\n");
  for (const std::string& name : signed_headers) {
    std::string joined;
    bool found = false;
    for (const auto& [key, value] : request.headers) {
      if (!IEquals(key, name)) continue;
      // Trim, and collapse inner runs of whitespace to one space.
      std::string collapsed;
      bool space = false;
      for (char c : Trim(value)) {
        if (c == ' ' || c == '\t') {
          space = true;
          continue;
        }
        if (space && !collapsed.empty()) collapsed += ' ';
        space = false;
        collapsed += c;
      }
      if (found) joined += ',';
      joined += collapsed;
      found = true;
    }
    if (!found) return Fail(Failure::kMalformed, "a signed header is missing from the request");
    out.append(name).append(":").append(joined).append("\n");
  }
  out.append("\n");
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) out += ';';
    out += signed_headers[i];
  }
  out.append("\n").append(Sha256Hex(request.body));
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out.append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(Sha256Hex(canonical_request));
  return out;
}

std::string Sign(const Secret& secret, std::string_view date, std::string_view region,
                 std::string_view service, std::string_view string_to_sign) {
  Secret seed(4 + secret.size());
  std::copy_n("AWS4", 4, seed.mutable_bytes().begin());
  std::copy(secret.expose().begin(), secret.expose().end(), seed.mutable_bytes().begin() + 4);
  Mac k_date = Hmac(seed.expose(), date);
  Mac k_region = Hmac(k_date, region);
  Mac k_service = Hmac(k_region, service);
  Mac k_signing = Hmac(k_service, kTerminator);
  const Mac signature = Hmac(k_signing, string_to_sign);
  OPENSSL_cleanse(k_date.data(), k_date.size());
  OPENSSL_cleanse(k_region.data(), k_region.size());
  OPENSSL_cleanse(k_service.data(), k_service.size());
  OPENSSL_cleanse(k_signing.data(), k_signing.size());
  return Hex(signature);
}

VerifyResult<Authorization> ParseAuthorization(std::string_view header) {
  header = Trim(header);
  if (!header.starts_with(kAlgorithm) || header.size() <= kAlgorithm.size() ||
      header[kAlgorithm.size()] != ' ') {
    return Fail(Failure::kMalformed, "Authorization is not AWS4-HMAC-SHA256");
  }
  header.remove_prefix(kAlgorithm.size() + 1);
  Authorization out;
  bool have_credential = false, have_headers = false, have_signature = false;
  for (std::string_view part : Split(header, ',')) {
    part = Trim(part);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) return Fail(Failure::kMalformed, "Authorization malformed");
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (key == "Credential" && !have_credential) {
      const auto scope = Split(value, '/');
      if (scope.size() != 5 || scope[0].empty()) {
        return Fail(Failure::kMalformed, "credential scope malformed");
      }
      out.access_key_id = scope[0];
      out.date = scope[1];
      out.region = scope[2];
      out.service = scope[3];
      out.terminator = scope[4];
      have_credential = true;
    } else if (key == "SignedHeaders" && !have_headers) {
      for (std::string_view name : Split(value, ';')) {
        if (name.empty()) return Fail(Failure::kMalformed, "SignedHeaders malformed");
        for (char c : name) {
          if (c != Lower(c) || c == ' ') {
            return Fail(Failure::kMalformed, "SignedHeaders must be lowercase");
          }
        }
        out.signed_headers.emplace_back(name);
      }
      if (out.signed_headers.size() > kMaxSignedHeaders) {
        return Fail(Failure::kMalformed, "too many signed headers");
      }
      if (!std::is_sorted(out.signed_headers.begin(), out.signed_headers.end()) ||
          std::adjacent_find(out.signed_headers.begin(), out.signed_headers.end()) !=
              out.signed_headers.end()) {
        return Fail(Failure::kMalformed, "SignedHeaders must be sorted and unique");
      }
      have_headers = true;
    } else if (key == "Signature" && !have_signature) {
      if (value.size() != 64 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return HexValue(c) >= 0; })) {
        return Fail(Failure::kMalformed, "Signature must be 64 hex digits");
      }
      out.signature = std::string(value);
      std::transform(out.signature.begin(), out.signature.end(), out.signature.begin(), Lower);
      have_signature = true;
    } else {
      return Fail(Failure::kMalformed, "Authorization has an unknown or repeated part");
    }
  }
  if (!have_credential || !have_headers || !have_signature) {
    return Fail(Failure::kMalformed, "Authorization lacks Credential, SignedHeaders or Signature");
  }
  return out;
}

VerifyResult<std::string> Verify(const Request& request, std::span<const Credential> credentials,
                                 const Options& options, Instant now) {
  const auto header = FindHeader(request, "authorization");
  if (!header) return Fail(Failure::kMissingAuthorization, "no Authorization header");
  auto auth = ParseAuthorization(*header);
  if (!auth) return auth.error();
  const auto& names = auth->signed_headers;
  if (std::find(names.begin(), names.end(), "host") == names.end() ||
      std::find(names.begin(), names.end(), "x-amz-date") == names.end()) {
    return Fail(Failure::kMalformed, "host and x-amz-date must be signed");
  }
  const auto amz_date = FindHeader(request, "x-amz-date");
  if (!amz_date) return Fail(Failure::kMalformed, "no X-Amz-Date header");
  const auto when = ParseAmzDate(*amz_date);
  if (!when) return Fail(Failure::kMalformed, "X-Amz-Date is not YYYYMMDDTHHMMSSZ");
  if (auth->date != amz_date->substr(0, 8)) {
    return Fail(Failure::kScopeMismatch, "credential scope date differs from X-Amz-Date");
  }
  if (auth->region != options.region || auth->service != options.service ||
      auth->terminator != kTerminator) {
    return Fail(Failure::kScopeMismatch, "credential scope names another region or service");
  }
  const auto skew = now > *when ? now - *when : *when - now;
  if (skew > options.max_skew) return Fail(Failure::kClockSkew, "request time outside 5 minutes");
  const Credential* credential = nullptr;
  for (const Credential& c : credentials) {
    if (c.access_key_id == auth->access_key_id) credential = &c;
  }
  if (credential == nullptr) return Fail(Failure::kUnknownAccessKey, "unknown access key id");
  auto canonical = CanonicalRequest(request, names);
  if (!canonical) return canonical.error();
  const std::string scope =
      auth->date + "/" + auth->region + "/" + auth->service + "/" + std::string(kTerminator);
  const std::string expected = Sign(credential->secret_access_key, auth->date, auth->region,
                                    auth->service, StringToSign(*amz_date, scope, *canonical));
  if (CRYPTO_memcmp(expected.data(), auth->signature.data(), expected.size()) != 0) {
    return Fail(Failure::kSignatureMismatch, "signature does not match");
  }
  return auth->access_key_id;
}

}  // namespace kmsd::sigv4
