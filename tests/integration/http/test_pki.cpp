#include "tests/integration/http/test_pki.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

namespace kmsd::http::testing {
namespace {

bool Run(const std::string& command) {
  const std::string quiet = command + " >/dev/null 2>&1";
  return std::system(quiet.c_str()) == 0;
}

bool MakeCa(const std::string& dir, const std::string& name) {
  return Run(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
      " -keyout " +
      dir + "/" + name + ".key -out " + dir + "/" + name +
      ".pem"
      " -subj /CN=" +
      name);
}

bool MakeLeaf(const std::string& dir, const std::string& ca, const std::string& name,
              const std::string& extensions) {
  const std::string base = dir + "/" + name;
  {
    std::ofstream ext(base + ".ext");
    ext << extensions << "\nbasicConstraints=CA:FALSE\n";
  }
  return Run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + base +
             ".key -out " + base + ".csr -subj /CN=" + name) &&
         Run("openssl x509 -req -days 2 -in " + base + ".csr -CA " + dir + "/" + ca +
             ".pem -CAkey " + dir + "/" + ca + ".key -CAcreateserial -out " + base +
             ".pem -extfile " + base + ".ext");
}

std::unique_ptr<TestPki> Generate() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kmsd-http-pki-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return nullptr;
  auto pki = std::make_unique<TestPki>();
  const std::string& d = pki->dir = tmpl;
  const std::string server_ext =
      "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
      "extendedKeyUsage=serverAuth";
  const std::string client_ext =
      "subjectAltName=DNS:client-one.test,email:ops@example.test,IP:10.1.2.3\n"
      "extendedKeyUsage=clientAuth";
  if (!MakeCa(d, "ca-one") || !MakeCa(d, "ca-two") ||
      !MakeLeaf(d, "ca-one", "server-one", server_ext) ||
      !MakeLeaf(d, "ca-one", "server-two", server_ext) ||
      !MakeLeaf(d, "ca-one", "client-one", client_ext) ||
      !MakeLeaf(d, "ca-two", "client-other", "extendedKeyUsage=clientAuth")) {
    return nullptr;
  }
  pki->ca_one = d + "/ca-one.pem";
  pki->ca_two = d + "/ca-two.pem";
  pki->server_one_cert = d + "/server-one.pem";
  pki->server_one_key = d + "/server-one.key";
  pki->server_two_cert = d + "/server-two.pem";
  pki->server_two_key = d + "/server-two.key";
  pki->client_one_cert = d + "/client-one.pem";
  pki->client_one_key = d + "/client-one.key";
  pki->client_other_cert = d + "/client-other.pem";
  pki->client_other_key = d + "/client-other.key";
  return pki;
}

}  // namespace

const TestPki* GetTestPki() {
  static const std::unique_ptr<TestPki> pki = Generate();
  if (!pki) ADD_FAILURE() << "could not generate the test PKI with the openssl CLI";
  return pki.get();
}

std::string CertificateSha256(const std::string& pem_path) {
  const std::string command = "openssl x509 -noout -fingerprint -sha256 -in " + pem_path;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return {};
  std::array<char, 512> line{};
  if (std::fgets(line.data(), line.size(), pipe.get()) == nullptr) return {};
  std::string text(line.data());
  text = text.substr(text.find('=') + 1);  // "sha256 Fingerprint=AB:CD:..."
  std::string hex;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return hex;
}

bool CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
  return !ec;
}

}  // namespace kmsd::http::testing
