// Module: one loaded PKCS#11 library, shared by everything in the process
// that uses the same library path.
//
// Lifetime: Get() dlopens the library once per process and keeps it loaded
// until exit (token libraries keep atexit handlers and thread-locals that
// crash when unloaded). C_Initialize is called lazily by the first Enter() in
// the current process, with CKF_OS_LOCKING_OK; a forked child initialises
// again on its first Enter(). C_Finalize is called when the last owner of the
// Module drops it (the registry only holds weak references).
//
// Concurrency: a caller holds a Ticket for the duration of each PKCS#11 call
// sequence; Recover() (C_Finalize + C_Initialize after a device-level error)
// waits until no ticket is out and blocks new tickets meanwhile, so no call is
// ever in flight while the library is finalised. Never take a second Ticket
// while holding one. Every method is thread-safe.
//
// The generation counts initialisations: sessions and object handles from an
// older generation are dead and must be forgotten, never closed (their
// numbers may be reused).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "hsm/pkcs11.h"

namespace kmsd::hsm {

class Module {
 public:
  // Errors: kInvalidArgument (empty path), kHsmUnavailable (dlopen failed or
  // the library has no usable C_GetFunctionList).
  static Result<std::shared_ptr<Module>> Get(const std::string& path);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Permission to call into the library; move-only.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    ~Ticket();
    std::uint64_t generation() const noexcept { return generation_; }
    CK_FUNCTION_LIST* fn() const noexcept;

   private:
    friend class Module;
    Ticket(Module* module, std::uint64_t generation) : module_(module), generation_(generation) {}
    Module* module_;
    std::uint64_t generation_;
  };

  // Initialises the library if this process has not (or a recovery failed),
  // subject to the recovery backoff. Errors: kHsmUnavailable.
  Result<Ticket> Enter();

  // Re-initialises after a device-level error observed under `generation`.
  // Returns OK at once if another caller already recovered. The first attempt
  // after a quiet period runs at once; repeated ones are spaced 100 ms, 200 ms,
  // ... up to 5 s apart, and calls in between fail with kHsmUnavailable.
  // Must be called without holding a Ticket. `*reinitialized` (if given) is
  // set when this call itself re-initialised the module.
  Status Recover(std::uint64_t generation, bool* reinitialized = nullptr);

  // Re-initialises so that tokens created since C_Initialize (e.g. by
  // softhsm2-util in another process) become visible: most modules,
  // SoftHSM included, list slots as of C_Initialize. Same waiting rules as
  // Recover, without its backoff. Every pool on the module reopens its
  // sessions on next use; callers see no error.
  Status Rescan(std::uint64_t generation);

  CK_FUNCTION_LIST* fn() const noexcept { return fn_; }
  const std::string& path() const noexcept { return path_; }
  // True if sessions of `generation` are still alive in this process.
  bool IsCurrent(std::uint64_t generation) const;
  // Number of successful C_Initialize calls (including the first).
  std::uint64_t initializations() const;
  // C_Login calls made through this module by any pool in the process, so a
  // refused PIN can be shown to be tried exactly once.
  std::uint64_t login_attempts() const noexcept { return login_attempts_.load(); }
  void NoteLoginAttempt() noexcept { ++login_attempts_; }

 private:
  Module(std::string path, CK_FUNCTION_LIST* fn) : path_(std::move(path)), fn_(fn) {}
  bool NeedsInitLocked() const;
  Status InitializeLocked();
  Status Reinitialize(std::uint64_t generation, bool recovery, bool* reinitialized);
  Status BackoffLocked() const;
  void GrowBackoffLocked();
  void Leave();

  const std::string path_;
  CK_FUNCTION_LIST* const fn_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool initialized_ = false;
  bool owns_init_ = false;  // false if someone else in the process initialised it
  pid_t init_pid_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t initializations_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::steady_clock::time_point last_recovery_{};
  std::chrono::milliseconds backoff_{0};
  std::atomic<std::uint64_t> login_attempts_{0};
};

}  // namespace kmsd::hsm
