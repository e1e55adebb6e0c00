// SessionPool: a fixed number of logged-in read/write sessions on one token,
// checked out exclusively, one operation at a time.
//
// - The token is chosen by label (slots are renumbered by SoftHSM) and looked
//   up again after every module re-initialisation.
// - Login is token-wide: a new session is logged in only if the token is not
//   already (CKR_USER_ALREADY_LOGGED_IN counts as success). Sessions are
//   closed, never logged out (C_Logout would log out every session).
// - A refused PIN is latched: no further C_Login is attempted by this pool.
// - Sessions stay open while idle, so the pool never drains to zero and the
//   token stays logged in. A session that failed with a session- or
//   device-level error is dropped when its lease ends and replaced on demand.
//
// Thread-safe. Every Lease must end before the pool is destroyed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "hsm/ck_error.h"
#include "hsm/module.h"
#include "hsm/pkcs11.h"

namespace kmsd::hsm {

class SessionPool;

// Exclusive use of one session for one operation. Move-only; returns the
// session to the pool (or drops a broken one) when destroyed.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  CK_FUNCTION_LIST* fn() const noexcept { return ticket_.fn(); }
  CK_SESSION_HANDLE session() const noexcept { return session_; }
  CK_SLOT_ID slot() const noexcept { return slot_; }
  std::uint64_t generation() const noexcept { return ticket_.generation(); }

  // OK for CKR_OK; otherwise remembers the failure's recovery class (the
  // worst one seen) and returns the mapped error "<call> failed: CKR_...".
  Status Check(CK_RV rv, std::string_view call);
  RvClass failure() const noexcept { return failure_; }

  // Marks a live session whose operation state is unknown (a token may keep
  // an operation active after a failed C_Encrypt/C_Decrypt/C_Sign; SoftHSM
  // does after CKR_ARGUMENTS_BAD). It is closed when the lease ends, after a
  // replacement is opened, so the pool never drops to zero sessions.
  void Discard() noexcept { discard_ = true; }

 private:
  friend class SessionPool;
  Lease(SessionPool* pool, Module::Ticket ticket, CK_SESSION_HANDLE session, CK_SLOT_ID slot)
      : ticket_(std::move(ticket)), pool_(pool), session_(session), slot_(slot) {}

  Module::Ticket ticket_;  // declared first: released after the session
  SessionPool* pool_;
  CK_SESSION_HANDLE session_;
  CK_SLOT_ID slot_;
  RvClass failure_ = RvClass::kOk;
  bool discard_ = false;
};

struct PoolCounters {
  std::atomic<std::uint64_t> login_attempts{0};
  std::atomic<std::uint64_t> session_reopens{0};
  std::atomic<std::uint64_t> reinitializations{0};
};

class SessionPool {
 public:
  // The pool owns the PIN and wipes it when destroyed.
  SessionPool(std::shared_ptr<Module> module, std::string token_label, Secret pin,
              std::size_t size);
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // Initialises the module if needed, finds the token, opens one session and
  // logs in. Errors: kNotFound (no token with the label), kInternal (two
  // tokens with it), kUnauthenticated (PIN refused: exactly one attempt),
  // kHsmUnavailable.
  Status Start();

  // Waits for a free session (opening one if fewer than `size` are open).
  // Errors: kHsmUnavailable (module down, recovering, or PIN refused earlier),
  // kNotFound (token gone). `*failure` receives the class of a token failure
  // met while opening a session (kOk otherwise) and `*generation` the module
  // generation it happened under, so callers can Recover().
  Result<Lease> Acquire(RvClass* failure = nullptr, std::uint64_t* generation = nullptr);

  // Re-initialises the module after a device-level error seen under
  // `generation` (see Module::Recover). Call without holding a Lease.
  Status Recover(std::uint64_t generation);

  // Changes whenever object handles found earlier may have gone stale
  // (session loss, re-initialisation). Caches of handles key on it.
  std::uint64_t epoch() const noexcept { return epoch_.load(); }

  Module& module() const noexcept { return *module_; }
  const PoolCounters& counters() const noexcept { return counters_; }

  // Logs the token in again through `lease`'s session after it was logged out
  // underneath (login is token-wide: every session of ours is then logged in
  // again). CKR_USER_ALREADY_LOGGED_IN is success. A refused PIN latches as
  // at start-up and is never retried. Errors: kHsmUnavailable, or the
  // mapped CK_RV (recorded in the lease's failure class).
  Status LoginAgain(Lease& lease);

  // Sessions of the current generation: open (idle + leased), leased now,
  // and the pool's size. For the daemon's pool gauges.
  struct Occupancy {
    std::size_t open = 0;
    std::size_t in_use = 0;
    std::size_t size = 0;
  };
  Occupancy occupancy();

 private:
  friend class Lease;
  enum class Fate { kReuse, kForget, kClose };
  void Release(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, std::uint64_t generation,
               Fate fate);
  // Opens a session on the token and logs it in if the token is not.
  Result<CK_SESSION_HANDLE> OpenSessionLocked(CK_FUNCTION_LIST* fn, RvClass* failure);
  // C_Login as the user on `session`, once; latches a refused PIN.
  Status LoginLocked(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, RvClass* failure);
  Result<CK_SLOT_ID> FindSlot(CK_FUNCTION_LIST* fn, RvClass* failure) const;
  void SyncGenerationLocked(std::uint64_t generation);

  const std::shared_ptr<Module> module_;
  const std::string token_label_;
  const Secret pin_;
  const std::size_t size_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::size_t open_ = 0;  // idle + leased sessions of the current generation
  std::uint64_t generation_ = 0;
  std::optional<CK_SLOT_ID> slot_;
  std::optional<Error> login_refused_;
  std::atomic<std::uint64_t> epoch_{1};
  PoolCounters counters_;
};

}  // namespace kmsd::hsm
