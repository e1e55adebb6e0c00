#include "hsm/session_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace kmsd::hsm {
namespace {

bool IsWorse(RvClass candidate, RvClass current) {
  auto rank = [](RvClass c) {
    switch (c) {
      case RvClass::kDevice: return 3;
      case RvClass::kSession: return 2;
      case RvClass::kOk: return 0;
      default: return 1;
    }
  };
  return rank(candidate) > rank(current);
}

}  // namespace

Lease::Lease(Lease&& other) noexcept
    : ticket_(std::move(other.ticket_)),
      pool_(std::exchange(other.pool_, nullptr)),
      session_(std::exchange(other.session_, CK_INVALID_HANDLE)),
      slot_(other.slot_),
      failure_(other.failure_),
      discard_(other.discard_) {}

Lease::~Lease() {
  if (pool_ == nullptr) return;
  using Fate = SessionPool::Fate;
  // A discarded session is still a live handle (unless the device failed):
  // close it. A session that failed at session or device level is dead:
  // forget it.
  Fate fate = Fate::kReuse;
  if (discard_ && failure_ != RvClass::kDevice) {
    fate = Fate::kClose;
  } else if (failure_ == RvClass::kSession || failure_ == RvClass::kDevice) {
    fate = Fate::kForget;
  }
  pool_->Release(ticket_.fn(), session_, ticket_.generation(), fate);
}

Status Lease::Check(CK_RV rv, std::string_view call) {
  if (rv == CKR_OK) return {};
  // Logged out underneath: the handle itself is still open in the token.
  // Close it (never forget it) or every logout leaks a pool's worth of
  // sessions until the token answers CKR_SESSION_COUNT. (SoftHSM reports a
  // logout through searches instead, handled in FindKey; other tokens fail
  // the crypto call itself with this code.)
  if (rv == CKR_USER_NOT_LOGGED_IN) discard_ = true;
  const RvClass cls = ClassifyRv(rv);
  if (IsWorse(cls, failure_)) failure_ = cls;
  return RvError(rv, call);
}

SessionPool::SessionPool(std::shared_ptr<Module> module, std::string token_label, Secret pin,
                         std::size_t size)
    : module_(std::move(module)),
      token_label_(std::move(token_label)),
      pin_(std::move(pin)),
      size_(std::max<std::size_t>(size, 1)) {}

SessionPool::~SessionPool() {
  // Sessions of an older generation, or inherited from a parent process, are
  // not ours to close; checking first also avoids initialising the module
  // just to tear down.
  if (!module_->IsCurrent(generation_)) return;
  auto ticket = module_->Enter();
  std::lock_guard lock(mu_);
  if (!ticket || ticket->generation() != generation_) return;  // sessions already dead
  for (CK_SESSION_HANDLE session : idle_) ticket->fn()->C_CloseSession(session);
}

void SessionPool::SyncGenerationLocked(std::uint64_t generation) {
  if (generation == generation_) return;
  // The module was (re-)initialised: every session and object handle of the
  // old generation is gone. Forget them without closing: their numbers may
  // already belong to someone else's sessions.
  idle_.clear();
  open_ = 0;
  slot_.reset();
  generation_ = generation;
  ++epoch_;
}

Result<CK_SLOT_ID> SessionPool::FindSlot(CK_FUNCTION_LIST* fn, RvClass* failure) const {
  auto fail = [&](CK_RV rv, std::string_view call) {
    *failure = ClassifyRv(rv);
    return RvError(rv, call);
  };
  CK_ULONG count = 0;
  if (CK_RV rv = fn->C_GetSlotList(CK_TRUE, nullptr, &count); rv != CKR_OK) {
    return fail(rv, "C_GetSlotList");
  }
  std::vector<CK_SLOT_ID> slots(count);
  if (CK_RV rv = fn->C_GetSlotList(CK_TRUE, slots.data(), &count); rv != CKR_OK) {
    return fail(rv, "C_GetSlotList");
  }
  slots.resize(count);
  // Token labels are 32 bytes, blank-padded, not NUL-terminated.
  char wanted[32];
  std::memset(wanted, ' ', sizeof(wanted));
  std::memcpy(wanted, token_label_.data(), std::min(token_label_.size(), sizeof(wanted)));
  std::optional<CK_SLOT_ID> found;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (fn->C_GetTokenInfo(slot, &info) != CKR_OK) continue;  // token vanished meanwhile
    if (std::memcmp(info.label, wanted, sizeof(wanted)) != 0) continue;
    if (found) return MakeError(ErrorCode::kInternal, "two tokens carry the configured label");
    found = slot;
  }
  if (!found) return MakeError(ErrorCode::kNotFound, "no token with the configured label");
  return *found;
}

Result<CK_SESSION_HANDLE> SessionPool::OpenSessionLocked(CK_FUNCTION_LIST* fn, RvClass* failure) {
  if (!slot_) {
    auto slot = FindSlot(fn, failure);
    if (!slot) return slot.error();
    slot_ = *slot;
  }
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_RV rv =
      fn->C_OpenSession(*slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
  if (rv != CKR_OK) {
    *failure = ClassifyRv(rv);
    if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT) slot_.reset();
    return RvError(rv, "C_OpenSession");
  }
  // Login state is token-wide: while any of our sessions is logged in, a new
  // one is too, and no C_Login is needed.
  CK_SESSION_INFO info{};
  if (fn->C_GetSessionInfo(session, &info) == CKR_OK &&
      (info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS)) {
    return session;
  }
  if (auto login = LoginLocked(fn, session, failure); !login) {
    fn->C_CloseSession(session);
    return login.error();
  }
  return session;
}

Status SessionPool::LoginLocked(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, RvClass* failure) {
  if (login_refused_) return *login_refused_;
  ++counters_.login_attempts;
  module_->NoteLoginAttempt();
  auto pin = pin_.expose();
  const CK_RV rv = fn->C_Login(session, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return {};
  if (ClassifyRv(rv) == RvClass::kPinRefused) {
    // Tokens lock the user out after a few wrong PINs: never try again.
    spdlog::error("hsm: token refused the PIN ({}); no further login attempts until restart",
                  RvName(rv));
    login_refused_ = MakeError(ErrorCode::kHsmUnavailable,
                               "token refused the PIN (" + RvName(rv) + "); not retried");
    cv_.notify_all();
    return *login_refused_;
  }
  *failure = ClassifyRv(rv);
  return RvError(rv, "C_Login");
}

Status SessionPool::LoginAgain(Lease& lease) {
  std::lock_guard lock(mu_);
  if (lease.generation() != generation_) {
    return MakeError(ErrorCode::kHsmUnavailable, "the module was re-initialised");
  }
  RvClass failure = RvClass::kOk;
  auto login = LoginLocked(lease.fn(), lease.session(), &failure);
  if (!login && failure != RvClass::kOk) {
    (void)lease.Check(CKR_USER_NOT_LOGGED_IN, "C_Login");  // marks the lease for replacement
  }
  if (login) ++epoch_;  // private objects are visible again: re-find their handles
  return login;
}

Status SessionPool::Start() {
  for (int attempt = 0;; ++attempt) {
    const auto initializations_before = module_->initializations();
    std::uint64_t generation = 0;
    {
      auto ticket = module_->Enter();
      if (!ticket) return ticket.error();
      generation = ticket->generation();
      std::lock_guard lock(mu_);
      SyncGenerationLocked(generation);
      RvClass failure = RvClass::kOk;
      auto session = OpenSessionLocked(ticket->fn(), &failure);
      if (session) {
        idle_.push_back(*session);
        ++open_;
        return {};
      }
      if (login_refused_) {
        // At start-up the operator must fix the PIN file: say so distinctly.
        return MakeError(ErrorCode::kUnauthenticated, login_refused_->message);
      }
      // A token missing from a module that was initialised before we came
      // may have been created since: rescan once (not if we just initialised).
      const bool fresh = module_->initializations() != initializations_before;
      if (session.error().code != ErrorCode::kNotFound || attempt > 0 || fresh) {
        return session.error();
      }
    }  // the ticket ends here: Rescan waits for every ticket
    if (auto st = module_->Rescan(generation); !st) return st;
  }
}

Result<Lease> SessionPool::Acquire(RvClass* failure, std::uint64_t* generation) {
  RvClass local = RvClass::kOk;
  std::uint64_t local_generation = 0;
  if (failure == nullptr) failure = &local;
  if (generation == nullptr) generation = &local_generation;
  *failure = RvClass::kOk;
  auto ticket = module_->Enter();
  if (!ticket) return ticket.error();
  *generation = ticket->generation();
  std::unique_lock lock(mu_);
  // No re-initialisation can happen while we hold a ticket, so the
  // generation is stable for the rest of this call.
  SyncGenerationLocked(ticket->generation());
  cv_.wait(lock, [&] { return login_refused_ || !idle_.empty() || open_ < size_; });
  if (login_refused_) return *login_refused_;
  if (!idle_.empty()) {
    CK_SESSION_HANDLE session = idle_.back();
    idle_.pop_back();
    return Lease(this, std::move(*ticket), session, *slot_);
  }
  ++open_;
  auto session = OpenSessionLocked(ticket->fn(), failure);
  if (!session) {
    --open_;
    cv_.notify_one();
    if (session.error().code == ErrorCode::kNotFound) {
      // The token was there at start-up: treat its absence as a device
      // problem (it may come back, and SoftHSM rescans only on re-init).
      *failure = RvClass::kDevice;
      return MakeError(ErrorCode::kHsmUnavailable, "the token is not present");
    }
    return session.error();
  }
  return Lease(this, std::move(*ticket), *session, *slot_);
}

void SessionPool::Release(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, std::uint64_t generation,
                          Fate fate) {
  std::lock_guard lock(mu_);
  if (generation != generation_) return;
  switch (fate) {
    case Fate::kReuse: idle_.push_back(session); break;
    case Fate::kForget:
      // The handle is dead (session- or device-level failure): forget it,
      // and the object handles found through it, instead of closing it.
      --open_;
      ++epoch_;
      ++counters_.session_reopens;
      break;
    case Fate::kClose: {
      // Open the replacement first: closing our last session would log the
      // token out.
      RvClass ignored = RvClass::kOk;
      auto replacement = OpenSessionLocked(fn, &ignored);
      fn->C_CloseSession(session);
      ++epoch_;  // rare: re-find object handles rather than trust them (e.g. after a logout)
      ++counters_.session_reopens;
      if (replacement) {
        idle_.push_back(*replacement);
      } else {
        --open_;
      }
      break;
    }
  }
  cv_.notify_one();
}

SessionPool::Occupancy SessionPool::occupancy() {
  std::lock_guard lock(mu_);
  return {open_, open_ - std::min(open_, idle_.size()), size_};
}

Status SessionPool::Recover(std::uint64_t generation) {
  bool reinitialized = false;
  Status st = module_->Recover(generation, &reinitialized);
  if (reinitialized) ++counters_.reinitializations;
  return st;
}

}  // namespace kmsd::hsm
