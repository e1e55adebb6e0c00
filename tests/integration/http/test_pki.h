// Test PKI generated at run time with the `openssl` CLI into a temp dir:
// CA one (server cert "server-one", second server cert "server-two", client
// cert "client-one") and CA two (client cert "client-other").
#pragma once

#include <string>

namespace kmsd::http::testing {

struct TestPki {
  std::string dir;
  std::string ca_one;  // CA certificate paths
  std::string ca_two;
  std::string server_one_cert, server_one_key;
  std::string server_two_cert, server_two_key;
  std::string client_one_cert, client_one_key;
  std::string client_other_cert, client_other_key;  // issued by CA two
};

// Generated once per test binary; fails the calling test (gtest FAIL) and
// returns nullptr when `openssl` is missing or a command fails.
const TestPki* GetTestPki();

// Lowercase hex SHA-256 fingerprint of a PEM certificate file, computed by the CLI.
std::string CertificateSha256(const std::string& pem_path);

// Copies a file; true on success.
bool CopyFile(const std::string& from, const std::string& to);

}  // namespace kmsd::http::testing
