// What a GPU execution context owns besides the shared executor: its stream,
// device arena, pinned host buffers and captured CUDA graphs (ExecutionContext
// with Device::kCuda; src/runtime/cuda/cuda_runner.cpp).
#pragma once
#include <memory>
#include <vector>

#include "octet/executor.h"

namespace octet {

class GpuRunner {
 public:
  virtual ~GpuRunner() = default;
  // Copies checked host inputs to the device, runs the network, returns host outputs.
  virtual TensorMap execute(const TensorMap& inputs) = 0;
  virtual size_t activation_bytes() const = 0;
  virtual double last_compute_ms() const = 0;
  // One run launched node by node with a CUDA event after each: every node's device time (ms), in graph order.
  virtual std::vector<double> profile_layers(const TensorMap& inputs) = 0;
  // One run launched node by node, each value copied to the host as its node
  // finishes and passed to `observer` there (calibration on the GPU, debugging a
  // layer); returns host outputs as execute does.
  virtual TensorMap observe(const TensorMap& inputs, const ValueObserver& observer) = 0;
};

// Throws octet::Error when this build has no CUDA backend or no device runs it.
std::unique_ptr<GpuRunner> make_cuda_runner(const Executor& executor);

}  // namespace octet
