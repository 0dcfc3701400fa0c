// Activation memory planning for execution contexts: once a run has shown the
// byte size of every node output, lay the intermediates out in one arena, each
// reusing memory that values no longer live have left.
#pragma once
#include <cstddef>
#include <vector>

#include "octet/graph.h"

namespace octet {

// A block of memory to place: `bytes` long, live from node `first` to node
// `last` (indices in execution order, both inclusive, so a node's inputs and
// outputs never share memory).
struct LiveBlock {
  size_t bytes = 0;
  size_t first = 0;
  size_t last = 0;
};

struct ArenaLayout {
  std::vector<size_t> offsets;  // one per block
  size_t bytes = 0;             // arena size
};

// Offsets, multiples of `alignment`, at which blocks live at the same time never
// overlap. Greedy by size: blocks are placed largest first (ties: earliest
// first), each at the lowest offset where it fits between the blocks already
// placed whose lifetimes overlap its own (first fit over the free intervals).
ArenaLayout layout_arena(const std::vector<LiveBlock>& blocks, size_t alignment = 64);

// What a run with every output on the heap saw of one node output.
struct RecordedOutput {
  size_t bytes = 0;
  bool from_make_output = false;  // the kernel created it with KernelContext::make_output
  int aliased_input = -1;         // else: the node input whose memory it views (Reshape...), or -1
};

// Where one node output goes in the arena.
struct OutputPlacement {
  size_t offset = 0;
  size_t bytes = 0;        // 0: not in the arena (heap)
  int aliased_input = -1;  // as recorded: the plan keeps that input's memory alive for it
};

struct ActivationPlan {
  std::vector<std::vector<OutputPlacement>> outputs;  // [node][output]
  size_t arena_bytes = 0;
};

// Gives every output a kernel makes with make_output a slot in the arena, live
// from its node to the last node reading it or any view of it (an alias extends
// its source's lifetime). Graph outputs, and values a graph output views, stay on
// the heap: they outlive the run. `recorded` is indexed [node][output].
ActivationPlan plan_activations(const Graph& graph, const std::vector<std::vector<RecordedOutput>>& recorded);

}  // namespace octet
