// Activation memory planning for execution contexts: once a run has shown the
// byte size of every node output, lay the intermediates out in one arena, each
// reusing memory that values no longer live have left.
#pragma once
#include <cstddef>
#include <vector>

#include "octet/executor.h"
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

// A run recording what plan_activations needs: each output's size, and whether it
// is made by make_output or views an input. Outputs go where place() puts them:
// the heap (an empty tensor) by default; a GPU run gives device memory.
class OutputRecorder : public RunMemory, public OutputAllocator {
 public:
  explicit OutputRecorder(const Graph& graph);
  OutputAllocator* allocator_for(size_t node) override;
  Tensor allocate(size_t index, DType dtype, const Shape& shape) override;
  void after_node(size_t node, KernelContext& ctx) override;
  const std::vector<std::vector<RecordedOutput>>& recorded() const { return recorded_; }

 protected:
  virtual Tensor place(DType dtype, const Shape& shape) { return {}; }

 private:
  std::vector<std::vector<RecordedOutput>> recorded_;  // [node][output]
  size_t node_ = 0;
};

// A run placing outputs in an arena as an ActivationPlan says. Outputs the plan
// keeps out of the arena go where off_arena() puts them (the heap by default); an
// output in arena memory other than its slot or planned view would be overwritten
// before its last reader, so misplaced() moves it (a heap copy by default).
class ArenaPlacement : public RunMemory, public OutputAllocator {
 public:
  ArenaPlacement(const ActivationPlan& plan, char* arena, size_t arena_bytes)
      : plan_(plan), base_(arena), arena_bytes_(arena_bytes) {}
  OutputAllocator* allocator_for(size_t node) override;
  Tensor allocate(size_t index, DType dtype, const Shape& shape) override;
  void after_node(size_t node, KernelContext& ctx) override;

 protected:
  // A view of `bytes` arena bytes at `at` (its owner keeps the arena alive).
  virtual Tensor arena_view(DType dtype, const Shape& shape, char* at) = 0;
  virtual Tensor off_arena(size_t node, size_t index, DType dtype, const Shape& shape) { return {}; }
  virtual void misplaced(Tensor& output) { output = output.clone(); }

 private:
  const ActivationPlan& plan_;
  char* base_;
  size_t arena_bytes_;
  size_t node_ = 0;
};

}  // namespace octet
