// Runs an engine on one thread, as TensorRT's IExecutionContext does: a context
// shares the engine's bound kernels and weights (immutable) with every other
// context of that engine, and owns the activation memory of its own runs. Use one
// context per thread; any number of contexts may run one engine at once.
#pragma once
#include <memory>
#include <vector>

#include "octet/device.h"
#include "octet/executor.h"

namespace octet {

class ExecutionContext {
 public:
  // sub_batch > 0: a batch of more samples runs as consecutive sub-batches of
  // sub_batch samples (the last may be smaller), whose activations stay in the
  // caches; only for networks in which no layer mixes samples (the builder checks,
  // src/builder/sub_batch.h). 0: every batch runs whole.
  // Device::kCuda: the executor's kernels are the CUDA backend's; the context owns a
  // stream, device memory and pinned host buffers (src/runtime/cuda/cuda_runner.h).
  explicit ExecutionContext(std::shared_ptr<const Executor> executor, int64_t sub_batch = 0,
                            Device device = Device::kCpu);
  ~ExecutionContext();
  ExecutionContext(ExecutionContext&&) noexcept;
  ExecutionContext& operator=(ExecutionContext&&) noexcept;

  const Executor& executor() const { return *executor_; }
  int64_t sub_batch() const { return sub_batch_; }

  // Runs the network (inputs checked as Executor::run checks them) and returns
  // the graph outputs, which later runs leave untouched. The first run with a
  // given set of input shapes puts every activation on the heap and records its
  // size; later runs with those shapes place them in this context's arena, as
  // the memory planner laid it out (src/runtime/memory_planner.h). The observer
  // sees each value as it is produced; arena memory is reused, so a value is only
  // valid during the call (clone it to keep it). A run split into sub-batches
  // plans for the sub-batch's shapes; a run with an observer is never split (the
  // observer sees whole-batch values). On a GPU context the observer sees host
  // copies, each taken as its node finishes (the run launches node by node).
  TensorMap execute(const TensorMap& inputs, const ValueObserver& observer = {});

  // Size of the activation arena: the largest planned for the input shapes run
  // so far (0 before the first run).
  size_t peak_activation_bytes() const;

  // GPU contexts: the device time of the last run's network in milliseconds (CUDA
  // events around the kernels, without the input and output copies), as trtexec's
  // "GPU Compute Time". 0 on the CPU.
  double last_gpu_compute_ms() const;
  // GPU contexts: one run launched node by node, with CUDA events between nodes;
  // returns each node's device time in milliseconds, in graph order.
  std::vector<double> profile_gpu_layers(const TensorMap& inputs);

 private:
  TensorMap execute_planned(const TensorMap& inputs, const ValueObserver& observer);

  struct State;
  std::shared_ptr<const Executor> executor_;
  int64_t sub_batch_;
  std::unique_ptr<State> state_;
};

}  // namespace octet
