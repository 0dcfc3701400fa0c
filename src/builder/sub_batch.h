// Sub-batch execution: a network in which no layer mixes samples gives the same
// outputs when a batch runs as consecutive sub-batches, and a sub-batch's
// activations can stay in the caches where a whole batch-64 run streams every
// tensor through memory (docs/plan_format.md, "Sub-batches"). The builder times the sub-batch sizes and records the fastest in the
// plan (EngineInfo::sub_batch); ExecutionContext does the splitting.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "builder/tactics.h"
#include "octet/graph.h"

namespace octet {

// Why `graph` cannot run a batch as sub-batches ("" when it can), judged from the
// value shapes of one run at `batch` samples (`shapes`: every graph input and
// node output): every value must have the batch as dim 0, and every layer must be
// one that keeps samples apart (convolutions, pools, elementwise ops, Gemm/MatMul
// on weights, and shape ops that leave dim 0 alone).
std::string why_not_per_sample(const Graph& graph, const std::map<std::string, Shape>& shapes, int64_t batch);

// The sub-batch for an engine of `graph` (its kernels chosen), at the options'
// timing shapes. requested < 0: 0 (run whole) or the size in 1, 2, 4, ... below
// the timing batch whose runs take the least time per sample, when that beats the
// whole batch by 5% or more; timings go through `cache` (keyed by the network, its
// kernels, the shapes and the thread count). requested == 0: 0. requested > 0:
// that size, or an error saying why the network cannot run in sub-batches.
int64_t choose_sub_batch(const Graph& graph, TimingCache& cache, const TacticOptions& options, int64_t requested,
                         const std::function<void(const std::string&)>& log);

}  // namespace octet
