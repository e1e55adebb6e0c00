// ContextIdLocks: one generate at a time per client-chosen context id.
//
// A generate checks that its id is unused, audits the release, then inserts
// the record; the insert is what tells two concurrent requests for one new id
// apart. Without this lock both would pass the check and both be audited as
// released keys, the loser's event corrected only by a later conflict event.
// Holding the id from the check to the insert makes the loser wait for the
// winner's outcome, then see the record (409, one conflict event) or, if the
// winner failed, take the id itself. Ids the broker generates never collide
// and are not locked.
//
// Thread-safe. Contention is rare (clients that reuse their own ids).
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace kmsd::broker {

class ContextIdLocks {
 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept
        : locks_(std::exchange(other.locks_, nullptr)), key_(std::move(other.key_)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard();

   private:
    friend class ContextIdLocks;
    Guard(ContextIdLocks* locks, std::pair<std::string, std::string> key)
        : locks_(locks), key_(std::move(key)) {}
    ContextIdLocks* locks_;
    std::pair<std::string, std::string> key_;
  };

  // Waits while another request holds (tenant, context_id), then holds it
  // until the Guard is destroyed.
  Guard Lock(std::string_view tenant, std::string_view context_id);

 private:
  std::mutex mu_;
  std::condition_variable released_;
  std::set<std::pair<std::string, std::string>> held_;
};

}  // namespace kmsd::broker
