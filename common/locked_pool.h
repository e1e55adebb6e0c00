// The memory that Secret keeps its bytes in.
//
// mlock works on whole pages and does not count: a Secret on the heap that
// unlocks its page when it dies unlocks every other Secret on that page too,
// and locking and unlocking a heap page per key splits and merges the heap's
// mappings under the process-wide mmap lock. So secrets live apart from the
// heap, in pages this pool maps, locks (best effort, within RLIMIT_MEMLOCK)
// and excludes from core dumps once, and never unlocks while they may hold
// a secret. Small secrets (up to kMaxSlotBytes) share pages in fixed-size
// slots that are reused; larger ones get mappings of their own.
//
// Thread-safe. The pool lives until the process exits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kmsd::locked_pool {

inline constexpr std::size_t kMaxSlotBytes = 2048;

struct Block {
  std::uint8_t* data = nullptr;
  // Bytes the block spans, >= the size asked for; Free wipes them all. Only
  // the size asked for may be used (AddressSanitizer builds poison the rest).
  std::size_t capacity = 0;
  bool locked = false;  // false where RLIMIT_MEMLOCK did not allow it
};

// A zero-filled block of at least n > 0 bytes. Throws std::bad_alloc when no
// memory can be mapped.
Block Allocate(std::size_t n);

// Wipes the whole block and takes it back. `block` must come from Allocate.
void Free(const Block& block) noexcept;

struct Stats {
  std::size_t mapped_bytes = 0;    // slot pages and large mappings, now
  std::size_t unlocked_bytes = 0;  // of those, the ones mlock refused
  std::size_t blocks_in_use = 0;
};
Stats CurrentStats();

}  // namespace kmsd::locked_pool
