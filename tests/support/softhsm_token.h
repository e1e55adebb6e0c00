// SoftHsmToken: a fresh SoftHSM2 token for one test (or fixture).
//
// SoftHSM reads SOFTHSM2_CONF at C_Initialize, so one test process uses ONE
// configuration: the first SoftHsmToken::Create() in a process makes a
// process-wide temp directory with its own softhsm2.conf and token folder,
// points SOFTHSM2_CONF at it (overriding any value), and removes it at exit.
// Every Create() then initialises a new token in that folder with
//   softhsm2-util --init-token --free --label kmsd-t<pid>-<n> --pin P --so-pin S
// (random P and S), so tokens never collide and tests stay independent.
//
// SoftHSM lists tokens as of C_Initialize. A token created after a service
// in this process initialised the module is still found: opening a service
// on a label the module does not know re-initialises it once (Module::Rescan;
// the services already open reopen their sessions transparently). Creating
// every token first avoids that extra work.
//
// Usage in a gtest fixture:
//   std::unique_ptr<kmsd::testing::SoftHsmToken> token_;
//   void SetUp() override { KMSD_REQUIRE_SOFTHSM_TOKEN(token_); }
// The macro skips the test when SoftHSM2 is not installed, but FAILS it when
// the environment has CI=true, so token tests never vanish silently in CI.
// A token that cannot be initialised although SoftHSM is present always fails.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/secret.h"
#include "hsm/pkcs11_key_service.h"
#include "tests/support/temp_dir.h"

namespace kmsd::testing {

inline constexpr const char* kSoftHsmModulePath = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* kSoftHsmUtilPath = "/usr/bin/softhsm2-util";

// True when the environment variable CI is "true".
bool IsCi();

class SoftHsmToken {
 public:
  struct CreateError {
    bool softhsm_absent = false;  // module or softhsm2-util not installed
    std::string message;          // safe to print: no PINs
  };

  // Initialises a fresh token. Returns nullptr and fills *error on failure.
  static std::unique_ptr<SoftHsmToken> Create(CreateError* error);

  const std::string& module_path() const noexcept { return module_path_; }
  const std::string& label() const noexcept { return label_; }
  // Files holding the PINs (mode 0600, one trailing newline).
  std::string pin_file() const { return dir_.File("user.pin"); }
  std::string so_pin_file() const { return dir_.File("so.pin"); }
  const Secret& pin() const noexcept { return pin_; }
  const Secret& so_pin() const noexcept { return so_pin_; }
  // The process-wide softhsm2.conf path.
  static std::string ConfPath();

  // module path, label and PIN file filled in; pool_size 4, prefix "kmsd:".
  hsm::TokenConfig Config() const;

  // Writes `content` (plus a newline) to a new 0600 file in this token's
  // private directory and returns its path (e.g. a wrong PIN file).
  std::string WritePrivateFile(const std::string& name, std::string_view content) const;

 private:
  SoftHsmToken(TempDir dir, std::string label, Secret pin, Secret so_pin);

  TempDir dir_;
  std::string module_path_ = kSoftHsmModulePath;
  std::string label_;
  Secret pin_;
  Secret so_pin_;
};

}  // namespace kmsd::testing

// Assigns a fresh token to `var` (a std::unique_ptr<SoftHsmToken>), or skips
// the test when SoftHSM is absent (fails under CI=true), or fails it when the
// token cannot be initialised. Use in SetUp() or a test body.
#define KMSD_REQUIRE_SOFTHSM_TOKEN(var)                                   \
  do {                                                                    \
    ::kmsd::testing::SoftHsmToken::CreateError kmsd_token_error_;         \
    (var) = ::kmsd::testing::SoftHsmToken::Create(&kmsd_token_error_);    \
    if (!(var)) {                                                         \
      if (kmsd_token_error_.softhsm_absent && !::kmsd::testing::IsCi()) { \
        GTEST_SKIP() << kmsd_token_error_.message;                        \
      }                                                                   \
      FAIL() << kmsd_token_error_.message;                                \
    }                                                                     \
  } while (0)
