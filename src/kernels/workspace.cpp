#include "kernels/workspace.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "octet/error.h"

namespace octet::workspace {
namespace {

constexpr size_t kSlots = 4;
constexpr size_t kAlignment = 64;

struct Free {
  void operator()(void* p) const { std::free(p); }
};

std::atomic<uint64_t> g_epoch{1};  // a reset starts a new epoch
std::atomic<size_t> g_metered{0};

struct ThreadBuffers {
  std::unique_ptr<void, Free> data[kSlots];
  size_t capacity[kSlots] = {};
  uint64_t epoch = 0;            // the meter's epoch `requested` belongs to
  size_t requested[kSlots] = {};  // the largest request per slot in that epoch
};
thread_local ThreadBuffers t_buffers;

}  // namespace

void* buffer(Slot slot, size_t bytes) {
  ThreadBuffers& t = t_buffers;
  const auto i = static_cast<size_t>(slot);
  if (const uint64_t epoch = g_epoch.load(std::memory_order_relaxed); t.epoch != epoch) {
    t.epoch = epoch;
    std::fill(std::begin(t.requested), std::end(t.requested), 0);
  }
  if (bytes > t.requested[i]) {
    g_metered.fetch_add(bytes - t.requested[i], std::memory_order_relaxed);
    t.requested[i] = bytes;
  }
  if (bytes > t.capacity[i]) {
    const size_t capacity = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    t.data[i].reset(std::aligned_alloc(kAlignment, capacity));
    t.capacity[i] = t.data[i] ? capacity : 0;
    if (!t.data[i]) throw Error("out of memory allocating " + std::to_string(capacity) + " bytes of kernel workspace");
  }
  return t.data[i].get();
}

void reset_meter() {
  g_epoch.fetch_add(1, std::memory_order_relaxed);
  g_metered.store(0, std::memory_order_relaxed);
}

size_t metered_bytes() { return g_metered.load(std::memory_order_relaxed); }

}  // namespace octet::workspace
