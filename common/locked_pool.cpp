#include "common/locked_pool.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace kmsd::locked_pool {
namespace {

constexpr std::array<std::size_t, 7> kSlotSizes = {32, 64, 128, 256, 512, 1024, kMaxSlotBytes};
// After a class's first page, its slot pages are mapped (and locked) this
// many at a time.
constexpr std::size_t kChunkBytes = 16 * 1024;

// A free slot holds only the link to the next one (it was wiped first).
struct FreeSlot {
  FreeSlot* next;
};

// Under AddressSanitizer the pool marks what no Secret may touch (the bytes
// past its size, free slots but for their link), so that a sanitizer build
// still catches an overrun of a Secret as it would on the heap.
#if defined(__SANITIZE_ADDRESS__)
void Poison(const void* p, std::size_t n) { ASAN_POISON_MEMORY_REGION(p, n); }
void Unpoison(const void* p, std::size_t n) { ASAN_UNPOISON_MEMORY_REGION(p, n); }
#else
void Poison(const void*, std::size_t) {}
void Unpoison(const void*, std::size_t) {}
#endif

struct SizeClass {
  std::mutex mu;
  FreeSlot* free = nullptr;
  // The chunk each free slot came from decides whether it is locked; slots
  // of an unlocked chunk are handed out only when no locked one is free.
  FreeSlot* free_unlocked = nullptr;
  std::size_t chunks = 0;
};

class Pool {
 public:
  Block Allocate(std::size_t n) {
    const std::size_t index = ClassIndex(n);
    if (index == kSlotSizes.size()) return AllocateLarge(n);
    SizeClass& size_class = classes_[index];
    const std::size_t slot = kSlotSizes[index];
    std::lock_guard lock(size_class.mu);
    if (size_class.free == nullptr && size_class.free_unlocked == nullptr)
      MapChunk(size_class, slot);
    const bool locked = size_class.free != nullptr;
    FreeSlot*& head = locked ? size_class.free : size_class.free_unlocked;
    FreeSlot* taken = head;
    head = taken->next;
    auto* data = reinterpret_cast<std::uint8_t*>(taken);
    Unpoison(data, n);
    std::memset(data, 0, sizeof(FreeSlot));  // the rest was wiped when it was freed
    Poison(data + n, slot - n);
    blocks_in_use_.fetch_add(1, kRelaxed);
    return {data, slot, locked};
  }

  void Free(const Block& block) noexcept {
    if (block.data == nullptr) return;
    Unpoison(block.data, block.capacity);
    OPENSSL_cleanse(block.data, block.capacity);
    const std::size_t index = ClassIndex(block.capacity);
    if (index == kSlotSizes.size()) {
      ::munmap(block.data, block.capacity);  // its own pages: unlocked with them
      blocks_in_use_.fetch_sub(1, kRelaxed);
      mapped_bytes_.fetch_sub(block.capacity, kRelaxed);
      if (!block.locked) unlocked_bytes_.fetch_sub(block.capacity, kRelaxed);
      return;
    }
    SizeClass& size_class = classes_[index];
    std::lock_guard lock(size_class.mu);
    auto* slot = reinterpret_cast<FreeSlot*>(block.data);
    FreeSlot*& head = block.locked ? size_class.free : size_class.free_unlocked;
    slot->next = head;
    head = slot;
    Poison(block.data + sizeof(FreeSlot), block.capacity - sizeof(FreeSlot));
    blocks_in_use_.fetch_sub(1, kRelaxed);
  }

  Stats Now() const {
    return {mapped_bytes_.load(kRelaxed), unlocked_bytes_.load(kRelaxed),
            blocks_in_use_.load(kRelaxed)};
  }

 private:
  static std::size_t PageSize() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

  static std::size_t ClassIndex(std::size_t n) {
    std::size_t i = 0;
    while (i < kSlotSizes.size() && kSlotSizes[i] < n) ++i;
    return i;
  }

  // Pages outside the heap, never in a core dump, locked if the limit allows.
  static std::uint8_t* MapPages(std::size_t bytes, bool& locked) {
    void* pages =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) throw std::bad_alloc();
    (void)::madvise(pages, bytes, MADV_DONTDUMP);
    locked = ::mlock(pages, bytes) == 0;
    return static_cast<std::uint8_t*>(pages);
  }

  void MapChunk(SizeClass& size_class, std::size_t slot) {
    // A class's first chunk is one page: a process that keeps a key and a
    // PIN needs a page per class it uses, not kChunkBytes.
    const std::size_t bytes = size_class.chunks++ == 0 ? PageSize() : kChunkBytes;
    bool locked = false;
    std::uint8_t* chunk = MapPages(bytes, locked);
    FreeSlot*& head = locked ? size_class.free : size_class.free_unlocked;
    for (std::size_t offset = bytes; offset >= slot; offset -= slot) {
      auto* free_slot = reinterpret_cast<FreeSlot*>(chunk + offset - slot);
      free_slot->next = head;
      head = free_slot;
      Poison(chunk + offset - slot + sizeof(FreeSlot), slot - sizeof(FreeSlot));
    }
    mapped_bytes_.fetch_add(bytes, kRelaxed);
    if (!locked) unlocked_bytes_.fetch_add(bytes, kRelaxed);
  }

  Block AllocateLarge(std::size_t n) {
    const std::size_t page = PageSize();
    const std::size_t bytes = (n + page - 1) / page * page;
    bool locked = false;
    std::uint8_t* data = MapPages(bytes, locked);
    Poison(data + n, bytes - n);
    blocks_in_use_.fetch_add(1, kRelaxed);
    mapped_bytes_.fetch_add(bytes, kRelaxed);
    if (!locked) unlocked_bytes_.fetch_add(bytes, kRelaxed);
    return {data, bytes, locked};
  }

  static constexpr auto kRelaxed = std::memory_order_relaxed;
  std::array<SizeClass, kSlotSizes.size()> classes_;
  std::atomic<std::size_t> mapped_bytes_{0}, unlocked_bytes_{0}, blocks_in_use_{0};
};

// Never destroyed: Secrets in static storage may be freed after main returns.
Pool& ThePool() {
  static Pool* const pool = new Pool;
  return *pool;
}

}  // namespace

Block Allocate(std::size_t n) { return ThePool().Allocate(n); }
void Free(const Block& block) noexcept { ThePool().Free(block); }
Stats CurrentStats() { return ThePool().Now(); }

}  // namespace kmsd::locked_pool
