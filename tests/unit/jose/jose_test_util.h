// Helpers shared by the jose unit tests: vector files, hex, key and token
// minting with real OpenSSL keys generated per test.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/jose/jws.h"
#include "broker/jose/key_set.h"
#include "broker/jose/signer.h"
#include "common/json/strict_json.h"
#include "common/time.h"

namespace kmsd::jose::testing {

inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline boost::json::value ReadJsonFile(const std::string& path) {
  return json::ParseStrictJson(ReadTextFile(path)).value();
}

inline std::vector<std::uint8_t> Hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline JwsSigner NewSigner(std::string kid, Algorithm alg) {
  return JwsSigner::FromPrivateKeyPem(std::move(kid), GeneratePrivateKeyPem(alg).value(), alg)
      .value();
}

// A key set holding the public halves of the given signers, via their JWKS.
inline std::shared_ptr<const KeySet> KeysOf(std::initializer_list<const JwsSigner*> signers,
                                            AlgorithmSet allowed = kAllAlgorithms) {
  boost::json::array keys;
  for (const JwsSigner* s : signers) keys.push_back(s->PublicJwk().value());
  const std::string jwks = boost::json::serialize(boost::json::object{{"keys", keys}});
  return std::make_shared<const KeySet>(KeySet::FromJwks(jwks, allowed).value());
}

// Asserts that `result` failed with `code` for `reason`.
template <class T>
void ExpectRefused(const Result<T>& result, ErrorCode code, TokenFailure reason) {
  ASSERT_FALSE(result) << "expected refusal: " << TokenFailureName(reason);
  EXPECT_EQ(result.error().code, code);
  EXPECT_EQ(result.error().message, TokenFailureName(reason));
}

inline std::int64_t UnixSeconds(Instant t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace kmsd::jose::testing
