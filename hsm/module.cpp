#include "hsm/module.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <map>

#include "hsm/ck_error.h"

namespace kmsd::hsm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
// Recoveries further apart than this start again without delay.
constexpr std::chrono::seconds kQuietPeriod{10};

struct Registry {
  std::mutex mu;
  std::map<std::string, void*> libraries;  // dlopen handles, never closed
  std::map<std::string, std::weak_ptr<Module>> modules;
};

Registry& GetRegistry() {
  static auto* registry = new Registry();  // leaked: must outlive static destructors
  return *registry;
}

Error Unavailable(std::string message) {
  return MakeError(ErrorCode::kHsmUnavailable, std::move(message));
}

}  // namespace

Result<std::shared_ptr<Module>> Module::Get(const std::string& path) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidArgument, "PKCS#11 module path is empty");
  Registry& registry = GetRegistry();
  std::lock_guard lock(registry.mu);
  if (auto existing = registry.modules[path].lock()) return existing;

  void*& library = registry.libraries[path];
  if (library == nullptr) {
    library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      registry.libraries.erase(path);
      return Unavailable("cannot load PKCS#11 module " + path);
    }
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(library, "C_GetFunctionList"));
  if (get_list == nullptr) return Unavailable("PKCS#11 module has no C_GetFunctionList: " + path);
  CK_FUNCTION_LIST* fn = nullptr;
  if (CK_RV rv = get_list(&fn); rv != CKR_OK || fn == nullptr) {
    return Unavailable("C_GetFunctionList failed: " + RvName(rv));
  }
  std::shared_ptr<Module> module(new Module(path, fn));
  registry.modules[path] = module;
  return module;
}

Module::~Module() {
  // Only the process that initialised the library finalises it; a forked
  // child that never used it must not tear down its parent's state.
  if (initialized_ && owns_init_ && init_pid_ == ::getpid()) fn_->C_Finalize(nullptr);
}

Module::Ticket::Ticket(Ticket&& other) noexcept
    : module_(std::exchange(other.module_, nullptr)), generation_(other.generation_) {}

Module::Ticket::~Ticket() {
  if (module_ != nullptr) module_->Leave();
}

CK_FUNCTION_LIST* Module::Ticket::fn() const noexcept { return module_->fn_; }

void Module::Leave() {
  std::lock_guard lock(mu_);
  if (--readers_ == 0) cv_.notify_all();
}

bool Module::NeedsInitLocked() const { return !initialized_ || init_pid_ != ::getpid(); }

bool Module::IsCurrent(std::uint64_t generation) const {
  std::lock_guard lock(mu_);
  return !NeedsInitLocked() && generation == generation_;
}

std::uint64_t Module::initializations() const {
  std::lock_guard lock(mu_);
  return initializations_;
}

void Module::GrowBackoffLocked() {
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  next_attempt_ = Clock::now() + backoff_;
}

Status Module::BackoffLocked() const {
  if (Clock::now() < next_attempt_) return Unavailable("PKCS#11 module is recovering (backoff)");
  return {};
}

Status Module::InitializeLocked() {
  const bool forked_child = initialized_ && init_pid_ != ::getpid();
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = fn_->C_Initialize(&args);
  bool owns = rv == CKR_OK;
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && forked_child) {
    // The child inherited the parent's in-memory state (SoftHSM without
    // library.reset_on_fork): drop it and start clean in this process.
    fn_->C_Finalize(nullptr);
    rv = fn_->C_Initialize(&args);
    owns = rv == CKR_OK;
  } else if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    // Another component of this process initialised it; use, never finalise.
    rv = CKR_OK;
  }
  if (rv != CKR_OK) {
    initialized_ = false;
    GrowBackoffLocked();
    spdlog::error("hsm: C_Initialize of {} failed: {}", path_, RvName(rv));
    return Unavailable("C_Initialize failed: " + RvName(rv));
  }
  initialized_ = true;
  owns_init_ = owns;
  init_pid_ = ::getpid();
  ++generation_;
  ++initializations_;
  return {};
}

Result<Module::Ticket> Module::Enter() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return writers_waiting_ == 0; });
  if (NeedsInitLocked()) {
    if (auto st = BackoffLocked(); !st) return st.error();
    ++writers_waiting_;
    cv_.wait(lock, [&] { return readers_ == 0; });
    --writers_waiting_;
    Status st = NeedsInitLocked() ? InitializeLocked() : Status{};
    cv_.notify_all();
    if (!st) return st.error();
  }
  ++readers_;
  return Ticket(this, generation_);
}

Status Module::Recover(std::uint64_t generation, bool* reinitialized) {
  return Reinitialize(generation, /*recovery=*/true, reinitialized);
}

Status Module::Rescan(std::uint64_t generation) {
  return Reinitialize(generation, /*recovery=*/false, nullptr);
}

Status Module::Reinitialize(std::uint64_t generation, bool recovery, bool* reinitialized) {
  if (reinitialized != nullptr) *reinitialized = false;
  std::unique_lock lock(mu_);
  if (!NeedsInitLocked() && generation_ != generation) return {};  // someone else did
  if (recovery) {
    if (auto st = BackoffLocked(); !st) return st;
  }
  ++writers_waiting_;
  cv_.wait(lock, [&] { return readers_ == 0; });
  --writers_waiting_;
  Status st;
  if (NeedsInitLocked() || generation_ == generation) {
    if (recovery) {
      spdlog::warn("hsm: re-initialising PKCS#11 module {} after a device-level error", path_);
    } else {
      spdlog::info("hsm: re-initialising PKCS#11 module {} to rescan its tokens", path_);
    }
    if (initialized_ && init_pid_ == ::getpid()) fn_->C_Finalize(nullptr);  // result irrelevant
    initialized_ = false;
    st = InitializeLocked();
    if (st && reinitialized != nullptr) *reinitialized = true;
    if (st && recovery) {
      // A recovery that succeeds but is needed again soon (a device that
      // initialises yet fails every call) is spaced out like a failure.
      const auto now = Clock::now();
      if (now - last_recovery_ < kQuietPeriod) {
        GrowBackoffLocked();
      } else {
        backoff_ = std::chrono::milliseconds(0);
      }
      last_recovery_ = now;
    }
  }
  cv_.notify_all();
  return st;
}

}  // namespace kmsd::hsm
