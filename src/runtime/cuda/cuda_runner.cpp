// A GPU execution context: one stream, one device arena laid out by the memory
// planner, pinned host staging for inputs and outputs, and, from the second run
// with the same input shapes, the whole network replayed as one captured CUDA graph
// (no per-kernel launch cost). OCTET_CUDA_GRAPHS=0 launches kernel by kernel.
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_memory.h"
#include "runtime/device_runner.h"
#include "runtime/memory_planner.h"

namespace octet {
namespace {

using cuda::device_alloc;

// The first run with new input shapes: every output in its own device allocation,
// scratch grown on demand; what it records sizes the plan.
class DeviceRecorder : public OutputRecorder {
 public:
  DeviceRecorder(const Graph& graph, cudaStream_t stream) : OutputRecorder(graph), stream_(stream) {}
  void* stream() override { return stream_; }
  void* device_scratch(size_t bytes) override {
    scratch_bytes_ = std::max(scratch_bytes_, bytes);
    scratch_.push_back(device_alloc(bytes));  // kept to the end of the run: earlier kernels may still read theirs
    return scratch_.back().get();
  }
  size_t scratch_bytes() const { return scratch_bytes_; }

 protected:
  Tensor place(DType dtype, const Shape& shape) override {
    auto memory = device_alloc(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
    return Tensor::view(dtype, shape, memory.get(), memory);
  }

 private:
  cudaStream_t stream_;
  std::vector<std::shared_ptr<void>> scratch_;
  size_t scratch_bytes_ = 0;
};

// A planned run: activations in the arena, graph outputs in buffers of their own
// (fixed addresses, so a captured graph writes them on every replay).
struct DevicePlan {
  ActivationPlan activations;
  std::map<std::pair<size_t, size_t>, std::shared_ptr<void>> off_arena;  // [node, output] -> buffer
  TensorMap inputs;                                                      // device buffers the inputs are copied to
  TensorMap outputs;                                                     // where the graph outputs land (device)
  cudaGraphExec_t graph = nullptr;
};

class DevicePlacement : public ArenaPlacement {
 public:
  DevicePlacement(DevicePlan& plan, const std::shared_ptr<void>& arena, size_t arena_bytes, void* scratch,
                  size_t scratch_bytes, cudaStream_t stream)
      : ArenaPlacement(plan.activations, static_cast<char*>(arena.get()), arena_bytes),
        plan_(plan), arena_(arena), scratch_(scratch), scratch_bytes_(scratch_bytes), stream_(stream) {}
  void* stream() override { return stream_; }
  void* device_scratch(size_t bytes) override {
    if (bytes > scratch_bytes_)
      throw Error("a CUDA kernel asked for " + std::to_string(bytes) + " bytes of scratch, more than the " +
                  std::to_string(scratch_bytes_) + " its first run with these shapes did");
    return scratch_;
  }

 protected:
  Tensor arena_view(DType dtype, const Shape& shape, char* at) override { return Tensor::view(dtype, shape, at, arena_); }
  Tensor off_arena(size_t node, size_t index, DType dtype, const Shape& shape) override {
    std::shared_ptr<void>& buffer = plan_.off_arena[{node, index}];
    if (!buffer) buffer = device_alloc(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
    return Tensor::view(dtype, shape, buffer.get(), buffer);
  }
  void misplaced(Tensor&) override {
    throw Error("a CUDA kernel returned arena memory outside its planned slot (a bug in that kernel)");
  }

 private:
  DevicePlan& plan_;
  const std::shared_ptr<void>& arena_;
  void* scratch_;
  size_t scratch_bytes_;
  cudaStream_t stream_;
};

// A planned run that records an event on the stream after every node.
class ProfilingPlacement : public DevicePlacement {
 public:
  ProfilingPlacement(DevicePlan& plan, const std::shared_ptr<void>& arena, size_t arena_bytes, void* scratch,
                     size_t scratch_bytes, cudaStream_t stream, std::vector<cudaEvent_t>& after)
      : DevicePlacement(plan, arena, arena_bytes, scratch, scratch_bytes, stream), after_(after), stream_(stream) {}
  void after_node(size_t node, KernelContext& ctx) override {
    DevicePlacement::after_node(node, ctx);
    OCTET_CUDA_CHECK(cudaEventRecord(after_[node], stream_));
  }

 private:
  std::vector<cudaEvent_t>& after_;
  cudaStream_t stream_;
};

class CudaRunner : public GpuRunner {
 public:
  explicit CudaRunner(const Executor& executor) : executor_(executor) {
    const char* graphs = std::getenv("OCTET_CUDA_GRAPHS");
    use_graphs_ = !(graphs && std::string(graphs) == "0");
    OCTET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    OCTET_CUDA_CHECK(cudaEventCreate(&start_));
    OCTET_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~CudaRunner() override {
    cudaStreamSynchronize(stream_);
    drop_graphs();
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaStreamDestroy(stream_);
  }

  size_t activation_bytes() const override { return arena_bytes_; }
  double last_compute_ms() const override { return last_ms_; }

  TensorMap execute(const TensorMap& inputs) override {
    std::vector<Shape> shapes = shapes_of(inputs);
    auto found = plans_.find(shapes);
    if (found == plans_.end()) return record(inputs, std::move(shapes));
    DevicePlan& plan = found->second;
    upload(inputs, plan.inputs);
    if (use_graphs_ && !plan.graph) capture(plan);
    OCTET_CUDA_CHECK(cudaEventRecord(start_, stream_));
    if (plan.graph) {
      OCTET_CUDA_CHECK(cudaGraphLaunch(plan.graph, stream_));
    } else {
      plan.outputs = run_planned(plan);
    }
    OCTET_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    return download(plan.outputs, true);
  }

  TensorMap observe(const TensorMap& inputs, const ValueObserver& observer) override {
    // The host copy is taken before the next node may reuse the value's arena slot.
    const ValueObserver on_host = [&](const std::string& name, const Tensor& value) {
      Tensor host = Tensor::uninitialized(value.dtype(), value.shape());
      OCTET_CUDA_CHECK(cudaMemcpyAsync(host.raw(), value.raw(), value.nbytes(), cudaMemcpyDeviceToHost, stream_));
      OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
      observer(name, host);
    };
    std::vector<Shape> shapes = shapes_of(inputs);
    // The first run with these shapes is observed as it records.
    if (!plans_.count(shapes)) return record(inputs, std::move(shapes), on_host);
    DevicePlan& plan = plans_.at(shapes);
    upload(inputs, plan.inputs);
    DevicePlacement placement(plan, arena_, arena_bytes_, scratch_.get(), scratch_bytes_, stream_);
    return download(executor_.run_checked(plan.inputs, on_host, &placement), false);
  }

  std::vector<double> profile_layers(const TensorMap& inputs) override {
    const Graph& graph = executor_.graph();
    DevicePlan& plan = planned(inputs);
    upload(inputs, plan.inputs);
    std::vector<cudaEvent_t> after(graph.nodes.size());
    for (auto& e : after) OCTET_CUDA_CHECK(cudaEventCreate(&e));
    std::vector<double> ms(graph.nodes.size());
    try {
      OCTET_CUDA_CHECK(cudaEventRecord(start_, stream_));
      ProfilingPlacement placement(plan, arena_, arena_bytes_, scratch_.get(), scratch_bytes_, stream_, after);
      executor_.run_checked(plan.inputs, {}, &placement);
      OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
      for (size_t i = 0; i < after.size(); ++i) {
        float t = 0;
        OCTET_CUDA_CHECK(cudaEventElapsedTime(&t, i ? after[i - 1] : start_, after[i]));
        ms[i] = t;
      }
    } catch (...) {
      for (auto& e : after) cudaEventDestroy(e);
      throw;
    }
    for (auto& e : after) cudaEventDestroy(e);
    return ms;
  }

 private:
  // Copies host inputs into `device` (graph input name -> device tensor) through
  // pinned staging, on the stream.
  void upload(const TensorMap& inputs, const TensorMap& device) {
    size_t total = 0;
    for (const auto& [name, t] : inputs) total += t.nbytes();
    if (total > staging_in_bytes_) staging_in_ = cuda::pinned_alloc(staging_in_bytes_ = total);
    // The last run's copies out of the staging buffer must be done before it is rewritten.
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
    char* at = static_cast<char*>(staging_in_.get());
    for (const auto& [name, t] : inputs) {
      std::memcpy(at, t.raw(), t.nbytes());
      OCTET_CUDA_CHECK(cudaMemcpyAsync(const_cast<void*>(device.at(name).raw()), at, t.nbytes(),
                                       cudaMemcpyHostToDevice, stream_));
      at += t.nbytes();
    }
  }

  // Host copies of device outputs, after the stream's work; times the network when asked.
  TensorMap download(const TensorMap& device, bool timed) {
    size_t total = 0;
    for (const auto& [name, t] : device) total += t.nbytes();
    if (total > staging_out_bytes_) staging_out_ = cuda::pinned_alloc(staging_out_bytes_ = total);
    char* at = static_cast<char*>(staging_out_.get());
    for (const auto& [name, t] : device) {
      OCTET_CUDA_CHECK(cudaMemcpyAsync(at, t.raw(), t.nbytes(), cudaMemcpyDeviceToHost, stream_));
      at += t.nbytes();
    }
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (timed) {
      float ms = 0;
      OCTET_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      last_ms_ = ms;
    }
    TensorMap host;
    at = static_cast<char*>(staging_out_.get());
    for (const auto& [name, t] : device) {
      Tensor out = Tensor::uninitialized(t.dtype(), t.shape());
      std::memcpy(out.raw(), at, t.nbytes());
      at += t.nbytes();
      host[name] = std::move(out);
    }
    return host;
  }

  TensorMap device_inputs(const TensorMap& inputs) {
    TensorMap device;
    for (const auto& [name, t] : inputs) {
      auto memory = device_alloc(t.nbytes());
      device[name] = Tensor::view(t.dtype(), t.shape(), memory.get(), memory);
    }
    return device;
  }

  std::vector<Shape> shapes_of(const TensorMap& inputs) const {
    std::vector<Shape> shapes;
    for (const auto& v : executor_.graph().inputs) shapes.push_back(inputs.at(v.name).shape());
    return shapes;
  }

  // The plan for these inputs' shapes, recorded by a first run where there is none.
  DevicePlan& planned(const TensorMap& inputs) {
    std::vector<Shape> shapes = shapes_of(inputs);
    if (!plans_.count(shapes)) record(inputs, shapes);
    return plans_.at(shapes);
  }

  TensorMap record(const TensorMap& inputs, std::vector<Shape> shapes, const ValueObserver& observer = {}) {
    DevicePlan plan;
    plan.inputs = device_inputs(inputs);
    upload(inputs, plan.inputs);
    DeviceRecorder recorder(executor_.graph(), stream_);
    OCTET_CUDA_CHECK(cudaEventRecord(start_, stream_));
    TensorMap outputs = executor_.run_checked(plan.inputs, observer, &recorder);
    OCTET_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    TensorMap host = download(outputs, true);
    plan.activations = plan_activations(executor_.graph(), recorder.recorded());
    if (plan.activations.arena_bytes > arena_bytes_ || recorder.scratch_bytes() > scratch_bytes_) {
      drop_graphs();  // they address the old arena and scratch
      if (plan.activations.arena_bytes > arena_bytes_) arena_ = device_alloc(arena_bytes_ = plan.activations.arena_bytes);
      if (recorder.scratch_bytes() > scratch_bytes_) scratch_ = device_alloc(scratch_bytes_ = recorder.scratch_bytes());
    }
    plans_.emplace(std::move(shapes), std::move(plan));
    return host;
  }

  TensorMap run_planned(DevicePlan& plan) {
    DevicePlacement placement(plan, arena_, arena_bytes_, scratch_.get(), scratch_bytes_, stream_);
    return executor_.run_checked(plan.inputs, {}, &placement);
  }

  // Captures a planned run into a graph: the kernels are recorded, not run.
  void capture(DevicePlan& plan) {
    // Off-arena buffers are allocated on first use, which capture forbids: one plain run first.
    if (plan.off_arena.empty()) {
      plan.outputs = run_planned(plan);
      OCTET_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    cudaGraph_t graph = nullptr;
    OCTET_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      plan.outputs = run_planned(plan);
    } catch (...) {
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    OCTET_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    const cudaError_t status = cudaGraphInstantiate(&plan.graph, graph, 0);
    cudaGraphDestroy(graph);
    OCTET_CUDA_CHECK(status);
  }

  void drop_graphs() {
    for (auto& [shapes, plan] : plans_)
      if (plan.graph) cudaGraphExecDestroy(plan.graph), plan.graph = nullptr;
  }

  const Executor& executor_;
  bool use_graphs_ = true;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  std::map<std::vector<Shape>, DevicePlan> plans_;
  std::shared_ptr<void> arena_, scratch_, staging_in_, staging_out_;
  size_t arena_bytes_ = 0, scratch_bytes_ = 0, staging_in_bytes_ = 0, staging_out_bytes_ = 0;
  double last_ms_ = 0;
};

}  // namespace

std::unique_ptr<GpuRunner> make_cuda_runner(const Executor& executor) {
  const std::string why = why_no_cuda_device();
  if (!why.empty()) throw Error("cannot run a CUDA engine: " + why);
  return std::make_unique<CudaRunner>(executor);
}

}  // namespace octet
