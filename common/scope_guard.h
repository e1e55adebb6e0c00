// Runs a callable when the scope ends, unless dismissed. Never throws.
#pragma once

#include <utility>

namespace kmsd {

template <class Fn>
class ScopeGuard {
 public:
  explicit ScopeGuard(Fn fn) : fn_(std::move(fn)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (active_) fn_();
  }
  void Dismiss() noexcept { active_ = false; }

 private:
  Fn fn_;
  bool active_ = true;
};

}  // namespace kmsd
