#include "cli/kmsctl/authz_claims.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "common/base64.h"

namespace kmsd::kmsctl {

std::optional<std::string> UnverifiedContextClaim(std::string_view compact_jws) {
  const auto first = compact_jws.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = compact_jws.find('.', first + 1);
  if (second == std::string_view::npos ||
      compact_jws.find('.', second + 1) != std::string_view::npos)
    return std::nullopt;
  auto payload = Base64UrlDecode(compact_jws.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value claims = boost::json::parse(
      std::string_view(reinterpret_cast<const char*>(payload->data()), payload->size()), ec);
  if (ec || !claims.is_object()) return std::nullopt;
  const auto* ctx = claims.as_object().if_contains("ctx");
  if (ctx == nullptr || !ctx->is_string()) return std::nullopt;
  return std::string(ctx->as_string());
}

}  // namespace kmsd::kmsctl
