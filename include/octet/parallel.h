// Intra-op parallelism shared by all CPU kernels.
#pragma once
#include <cstdint>
#include <functional>

namespace octet {

// Number of threads kernels may use (default 1). Not meant to be changed while
// a run is in progress.
void set_num_threads(int n);
int num_threads();
// Calls fn(begin, end) over [0, n) split into contiguous chunks, one per thread;
// returns when all are done. Runs inline when one thread is set or n is small.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace octet
