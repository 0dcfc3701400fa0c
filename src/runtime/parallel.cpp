// parallel_for runs on OpenMP, the runtime Debian's oneDNN uses too: one team of
// threads serves both octet's kernels and oneDNN's, so the two never compete
// for the cores (two pools spinning on two cores stall each other).
#include "octet/parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace octet {
namespace {
std::atomic<int> g_threads{1};
}  // namespace

void set_num_threads(int n) {
  g_threads = std::max(1, n);
  omp_set_num_threads(g_threads);
}

int num_threads() { return g_threads; }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  const int parts = static_cast<int>(std::min<int64_t>(num_threads(), n));
  // A region inside a region (a kernel calling another) runs on the thread it is on.
  if (parts <= 1 || omp_in_parallel()) {
    if (n > 0) fn(0, n);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace octet
