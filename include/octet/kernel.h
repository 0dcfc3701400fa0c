// Kernel registry. Every kernel registers next to its implementation with the op
// it implements, the opset range it covers and the backend it belongs to
// ("reference" is the plain executable spec the optimised backends are tested
// against).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "octet/device.h"
#include "octet/graph.h"
#include "octet/tensor.h"

namespace octet {

// Supplies the memory of a node's outputs: an execution context hands out its
// activation arena this way (src/runtime/execution_context.cpp).
class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  // Output `index` of the running node, of that type and shape, over memory the
  // allocator owns; or an empty tensor to allocate that output on the heap.
  virtual Tensor allocate(size_t index, DType dtype, const Shape& shape) = 0;
};

struct KernelContext {
  const Node& node;
  int64_t opset;                          // the model's opset for the node's domain
  std::vector<const Tensor*> inputs;      // nullptr for an omitted optional input
  std::vector<Tensor> outputs;            // one per node output, filled by the kernel
  OutputAllocator* allocator = nullptr;   // where make_output puts outputs; null: the heap
  // Set by the executor: whether input i's memory may be overwritten (see can_overwrite_input).
  std::function<bool(size_t)> overwritable;
  // GPU kernels (Device::kCuda): the run's CUDA stream (a cudaStream_t) to launch on,
  // and scratch device memory of at least the bytes asked for, valid until the node
  // returns (the execution context owns it). Null on the CPU.
  void* stream = nullptr;
  std::function<void*(size_t bytes)> device_scratch;

  size_t num_inputs() const { return inputs.size(); }
  // True when no one reads input i's memory after this node: a kernel may then
  // compute an output of the same type and size in place and return it as that
  // output (outputs[o] = *inputs[i]), e.g. a conv whose residual input becomes
  // its result. The execution context's memory planner sees the output alias the input.
  bool can_overwrite_input(size_t i) const { return has_input(i) && overwritable && overwritable(i); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  // Input i, or an error naming the node when a required input is missing.
  const Tensor& input(size_t i) const;
  // Creates output i with the given type and shape, zero-filled (in the
  // allocator's memory when it has room for it, else on the heap), and returns it.
  // Kernels that write every element pass zero_filled = false and skip the fill.
  Tensor& make_output(size_t i, DType dtype, Shape shape, bool zero_filled = true);
  // Throws UnsupportedError / Error prefixed with the node's description.
  [[noreturn]] void unsupported(const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;
};

using KernelFn = std::function<void(KernelContext&)>;

// A kernel bound to one node of one network. Made once when an executor is
// built, so it can prepare what does not change between runs (reordered
// weights, library primitives); run() is then called many times, possibly from
// several threads at once, and must not modify the object.
class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  virtual void run(KernelContext& ctx) const = 0;
};

// Makes the prepared kernel for `node` of `graph` (whose initializers it may
// read), or returns nullptr when this implementation does not handle the node's
// configuration (dtypes, attributes), so another backend's kernel is used.
using KernelPreparer = std::function<std::unique_ptr<PreparedKernel>(const Node& node, const Graph& graph)>;

struct KernelDef {
  std::string op_type;
  std::string domain;      // "" = ai.onnx
  int64_t since_version;   // first opset this implementation covers
  int64_t end_version;     // last opset it covers (inclusive)
  std::string backend;     // "reference", "onednn", "cuda", ...
  KernelFn fn;             // a stateless kernel, or
  KernelPreparer prepare;  // one that prepares per node (used when set)
  // kBFloat16 for a kernel that computes an FP32 node in BF16 (FP32 accumulation):
  // kernel selection considers it only when the build allows BF16 (BuilderConfig::bf16).
  DType reduced_precision = DType::kUndefined;
  // Where it runs: GPU kernels read and write device memory (KernelContext::stream).
  Device device = Device::kCpu;

  // The kernel for `node`: the prepared one, or a wrapper around fn. Null when
  // the preparer declines the node.
  std::unique_ptr<PreparedKernel> bind(const Node& node, const Graph& graph) const;
};

// A stateless kernel function as a prepared kernel (what bind makes of fn): for
// preparers that take only some nodes of an op.
std::unique_ptr<PreparedKernel> stateless_kernel(KernelFn fn);

// For preparers: whether `node` has input `index` (not omitted), and that input
// when it is an initializer of `graph` (a constant: weights, bias), else nullptr.
bool node_has_input(const Node& node, size_t index);
const Tensor* constant_input(const Node& node, const Graph& graph, size_t index);

// Runs ctx's node on its reference kernel: for a fast kernel's inputs that its own
// loops do not cover, so results and errors stay the reference's.
void run_reference_kernel(KernelContext& ctx);

class KernelRegistry {
 public:
  // The registry holding every built-in kernel.
  static KernelRegistry& global();
  void add(KernelDef def);
  // The kernel for op_type at that opset on that backend, or nullptr.
  const KernelDef* find(const std::string& domain, const std::string& op_type, int64_t opset,
                        const std::string& backend = "reference") const;
  std::vector<std::string> op_types(const std::string& backend = "reference") const;
  // Every backend of that device with a kernel for op_type at that opset, in registration order.
  std::vector<const KernelDef*> candidates(const std::string& domain, const std::string& op_type, int64_t opset,
                                           Device device = Device::kCpu) const;

 private:
  std::vector<KernelDef> defs_;
};

}  // namespace octet
