#include "octet/execution_context.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include "runtime/device_runner.h"
#include "runtime/memory_planner.h"

namespace octet {
namespace {

// Places outputs in a host arena.
class HostArenaPlacement : public ArenaPlacement {
 public:
  HostArenaPlacement(const ActivationPlan& plan, const std::shared_ptr<void>& arena, size_t arena_bytes)
      : ArenaPlacement(plan, static_cast<char*>(arena.get()), arena_bytes), arena_(arena) {}

 protected:
  Tensor arena_view(DType dtype, const Shape& shape, char* at) override { return Tensor::view(dtype, shape, at, arena_); }

 private:
  const std::shared_ptr<void>& arena_;
};

std::shared_ptr<void> allocate_arena(size_t bytes) {
  return std::shared_ptr<void>(::operator new(bytes, std::align_val_t(64)),
                               [](void* p) { ::operator delete(p, std::align_val_t(64)); });
}

}  // namespace

struct ExecutionContext::State {
  std::map<std::vector<Shape>, ActivationPlan> plans;  // by input shapes, in graph input order
  std::shared_ptr<void> arena;                         // sized for the largest plan
  size_t arena_bytes = 0;
  std::unique_ptr<GpuRunner> gpu;                      // a GPU context's stream and memory
};

ExecutionContext::ExecutionContext(std::shared_ptr<const Executor> executor, int64_t sub_batch, Device device)
    : executor_(std::move(executor)), sub_batch_(sub_batch), state_(std::make_unique<State>()) {
  if (device == Device::kCuda) state_->gpu = make_cuda_runner(*executor_);
}
ExecutionContext::~ExecutionContext() = default;
ExecutionContext::ExecutionContext(ExecutionContext&&) noexcept = default;
ExecutionContext& ExecutionContext::operator=(ExecutionContext&&) noexcept = default;

size_t ExecutionContext::peak_activation_bytes() const {
  return state_->gpu ? state_->gpu->activation_bytes() : state_->arena_bytes;
}

double ExecutionContext::last_gpu_compute_ms() const { return state_->gpu ? state_->gpu->last_compute_ms() : 0.0; }

std::vector<double> ExecutionContext::profile_gpu_layers(const TensorMap& inputs) {
  if (!state_->gpu) throw Error("profile_gpu_layers: this execution context runs on the CPU");
  executor_->check_inputs(inputs);
  return state_->gpu->profile_layers(inputs);
}

namespace {
// The batch size all of the graph's inputs share along dim 0, or 0 when they do not.
int64_t common_batch(const Graph& graph, const TensorMap& inputs) {
  int64_t batch = 0;
  for (const auto& v : graph.inputs) {
    auto it = inputs.find(v.name);
    if (it == inputs.end() || it->second.rank() == 0 || (batch && it->second.dim(0) != batch)) return 0;
    batch = it->second.dim(0);
  }
  return batch;
}
}  // namespace

TensorMap ExecutionContext::execute(const TensorMap& inputs, const ValueObserver& observer) {
  executor_->check_inputs(inputs);
  if (state_->gpu) return observer ? state_->gpu->observe(inputs, observer) : state_->gpu->execute(inputs);
  const int64_t batch = sub_batch_ > 0 && !observer ? common_batch(executor_->graph(), inputs) : 0;
  if (batch <= sub_batch_) return execute_planned(inputs, observer);
  TensorMap outputs;
  for (int64_t begin = 0; begin < batch; begin += sub_batch_) {
    const int64_t count = std::min(sub_batch_, batch - begin);
    TensorMap slice;
    for (const auto& [name, t] : inputs) slice[name] = t.batch_slice(begin, count);
    for (auto& [name, part] : execute_planned(slice, {})) {
      if (part.rank() == 0 || part.dim(0) != count)
        throw Error("output '" + name + "' has shape " + shape_str(part.shape()) + " for a sub-batch of " +
                    std::to_string(count) + " samples: the network mixes samples; rebuild the plan");
      Tensor& whole = outputs[name];
      if (whole.empty()) {
        Shape shape = part.shape();
        shape[0] = batch;
        whole = Tensor::uninitialized(part.dtype(), shape);
      }
      std::memcpy(whole.batch_slice(begin, count).raw(), part.raw(), part.nbytes());
    }
  }
  return outputs;
}

// Runs checked inputs whole, in the arena planned for their shapes.
TensorMap ExecutionContext::execute_planned(const TensorMap& inputs, const ValueObserver& observer) {
  const Graph& graph = executor_->graph();
  std::vector<Shape> shapes;
  for (const auto& v : graph.inputs) {
    auto it = inputs.find(v.name);
    shapes.push_back(it == inputs.end() ? Shape{} : it->second.shape());
  }
  if (auto plan = state_->plans.find(shapes); plan != state_->plans.end()) {
    HostArenaPlacement placement(plan->second, state_->arena, state_->arena_bytes);
    return executor_->run_checked(inputs, observer, &placement);
  }
  OutputRecorder recorder(graph);
  TensorMap outputs = executor_->run_checked(inputs, observer, &recorder);
  ActivationPlan plan = plan_activations(graph, recorder.recorded());
  if (plan.arena_bytes > state_->arena_bytes) {
    state_->arena = allocate_arena(plan.arena_bytes);
    state_->arena_bytes = plan.arena_bytes;
  }
  state_->plans.emplace(std::move(shapes), std::move(plan));
  return outputs;
}

}  // namespace octet
