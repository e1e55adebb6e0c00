// App: one running kmsd — the parts a Config names, wired together.
//
// Create() opens every token (PIN from a file or systemd credential), the
// record store, the audit log (checkpoints signed by the first token's audit
// key), the identity and authorization-token verifiers and the broker, and
// checks that each token answers a real wrap/unwrap and the store a query.
// Start() then binds the listeners. Reload() (SIGHUP) re-reads policies,
// signer keys, identity-provider keys and TLS certificates; a reload that
// fails keeps the old state and says why. Stop() drains in-flight requests.
//
// Not thread-safe: one controlling thread (main) calls these methods.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/config.h"

namespace kmsd::daemon {

class App {
 public:
  // Errors name the part that failed (token, store, audit, keys); start-up
  // code prints them and exits non-zero.
  static Result<std::unique_ptr<App>> Create(Config config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  Status Start();
  Status Reload();
  void Stop();

  // Periodic duties of the main loop (authn-failure summaries).
  void Tick();

  // Bound port of the API listener (after Start).
  std::uint16_t api_port() const;
  // Human-readable lines about where everything is (printed at start-up).
  std::vector<std::string> Summary() const;

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// Where a secret's file is: SecretSource::file, or the credential's file
// under $CREDENTIALS_DIRECTORY. kInvalidArgument when a credential is named
// but the variable is unset.
Result<std::string> ResolveSecretPath(const SecretSource& source);

}  // namespace kmsd::daemon
