// Kernel workspace, TensorRT's name for the scratch memory a layer's kernel uses
// while it runs: per-thread buffers, one per slot, that grow to the largest
// request and are kept. Requests are metered, so that the builder can hold the
// kernels it picks to a workspace limit (BuilderConfig::workspace_limit).
#pragma once
#include <cstddef>

namespace octet::workspace {

// Buffers one kernel may hold at once: its own scratch, and (oneDNN) the
// activations reordered in and out and the primitive's scratchpad.
enum class Slot { kScratch, kSource, kDestination, kPrimitive };

// This thread's buffer for `slot`, at least `bytes` long and 64-byte aligned, valid
// until the thread's next request for that slot. Throws octet::Error when out of memory.
void* buffer(Slot slot, size_t bytes);

// The meter: the sum over threads of the bytes each thread's slots were asked for
// (the largest request per slot) since the last reset.
void reset_meter();
size_t metered_bytes();

}  // namespace octet::workspace
