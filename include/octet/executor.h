// Runs a graph node by node with the kernels of one backend. Immutable once
// built: run() may be called from several threads at once. ExecutionContext
// (execution_context.h) runs one with its own activation memory.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/graph.h"
#include "octet/kernel.h"

namespace octet {

using TensorMap = std::map<std::string, Tensor>;
// Called with every value a node produces, as it is produced (calibration hooks in
// here). The tensor is valid during the call only: later nodes may reuse its
// memory (the arena, in-place kernels), so an observer clones what it keeps.
using ValueObserver = std::function<void(const std::string& name, const Tensor& value)>;

// Where one run puts node outputs, and what it learns from each node: an
// execution context records or places its activations through this.
class RunMemory {
 public:
  virtual ~RunMemory() = default;
  // The allocator for the outputs of node `node` (index in graph order), or
  // nullptr for the heap. Called just before the node runs.
  virtual OutputAllocator* allocator_for(size_t node) = 0;
  // Called just after node `node` ran, with its inputs and outputs; may replace outputs.
  virtual void after_node(size_t node, KernelContext& ctx) = 0;
  // For GPU runs: the CUDA stream every kernel launches on, and scratch device memory
  // (KernelContext::stream / device_scratch). Null for CPU runs.
  virtual void* stream() { return nullptr; }
  virtual void* device_scratch(size_t bytes) { return nullptr; }
};

// The input shapes an engine accepts, as TensorRT's optimisation profile: per
// input, the smallest and largest shape (inclusive, dim by dim) and the shape
// kernels are chosen for. Empty: any shape the graph's declared dims allow.
struct OptimizationProfile {
  std::map<std::string, Shape> min, opt, max;
  bool empty() const { return min.empty() && opt.empty() && max.empty(); }
};

class Executor {
 public:
  // Binds a kernel to every node: the backend the node names (Node::backend), else
  // `backend`; throws UnsupportedError naming the first node whose op (at the
  // model's opset) has no kernel there.
  // Inputs outside `profile` are refused by run().
  explicit Executor(Graph graph, const std::string& backend = "reference", OptimizationProfile profile = {});

  const Graph& graph() const { return graph_; }
  // Checks every graph input is present with the declared dtype and known dims,
  // then runs. Returns the graph outputs by name. Node outputs go on the heap
  // unless `memory` places them.
  TensorMap run(const TensorMap& inputs, const ValueObserver& observer = {}, RunMemory* memory = nullptr) const;
  // The checks of run(): throws octet::Error naming the first wrong input.
  void check_inputs(const TensorMap& inputs) const;
  // run() without the checks, for inputs that passed them: an execution context's
  // sub-batches of a checked batch (which may be smaller than the profile's min).
  TensorMap run_checked(const TensorMap& inputs, const ValueObserver& observer, RunMemory* memory) const;

 private:
  Graph graph_;
  OptimizationProfile profile_;
  // What running node i needs, resolved once: string lookups per node per run
  // cost as much as a small kernel at batch 1.
  struct Step {
    std::shared_ptr<const PreparedKernel> kernel;
    int64_t opset;
    std::vector<long> inputs;   // value slots; -1 for an omitted input
    std::vector<long> outputs;  // value slots; -1 for an unused output
    std::vector<size_t> release_after;  // value slots whose last use is this node
    std::vector<bool> last_read;        // per input: its value dies here and no other input is the same value
  };
  std::vector<Step> steps_;                // one per node
  std::map<std::string, size_t> slot_of_;  // value name -> slot index
  std::vector<Tensor> initial_values_;     // per slot: the initializers in theirs, empty elsewhere
  std::vector<size_t> output_slots_;       // per graph output
};

}  // namespace octet
