#include "octet/execution_context.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include "runtime/memory_planner.h"

namespace octet {
namespace {

// Whether `p` lies in the `bytes` bytes from `begin`.
bool points_into(const void* p, const void* begin, size_t bytes) {
  const auto at = reinterpret_cast<uintptr_t>(p), start = reinterpret_cast<uintptr_t>(begin);
  return at >= start && at - start < bytes;
}

// A run with every output on the heap, recording what the memory planner needs:
// each output's size, and whether it is made by make_output or views an input.
class OutputRecorder : public RunMemory, public OutputAllocator {
 public:
  explicit OutputRecorder(const Graph& graph) : recorded_(graph.nodes.size()) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) recorded_[i].resize(graph.nodes[i].outputs.size());
  }

  OutputAllocator* allocator_for(size_t node) override {
    node_ = node;
    return this;
  }
  Tensor allocate(size_t index, DType, const Shape&) override {
    recorded_[node_][index].from_make_output = true;
    return {};
  }
  void after_node(size_t node, KernelContext& ctx) override {
    for (size_t o = 0; o < ctx.outputs.size(); ++o) {
      const Tensor& out = ctx.outputs[o];
      RecordedOutput& r = recorded_[node][o];
      r.bytes = out.nbytes();
      if (r.from_make_output || out.empty()) continue;
      for (size_t in = 0; in < ctx.num_inputs(); ++in)
        if (ctx.has_input(in) && points_into(out.raw(), ctx.inputs[in]->raw(), ctx.inputs[in]->nbytes()))
          r.aliased_input = static_cast<int>(in);
    }
  }

  const std::vector<std::vector<RecordedOutput>>& recorded() const { return recorded_; }

 private:
  std::vector<std::vector<RecordedOutput>> recorded_;  // [node][output]
  size_t node_ = 0;
};

// A run placing outputs in the arena as the plan says.
class ArenaPlacement : public RunMemory, public OutputAllocator {
 public:
  ArenaPlacement(const ActivationPlan& plan, const std::shared_ptr<void>& arena, size_t arena_bytes)
      : plan_(plan), arena_(arena), base_(static_cast<char*>(arena.get())), arena_bytes_(arena_bytes) {}

  OutputAllocator* allocator_for(size_t node) override {
    node_ = node;
    return this;
  }
  Tensor allocate(size_t index, DType dtype, const Shape& shape) override {
    const OutputPlacement& slot = plan_.outputs[node_][index];
    // A value-dependent shape may differ from the planned run's: then it goes on the heap.
    if (slot.bytes == 0 || std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; }) ||
        static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype) != slot.bytes)
      return {};
    return Tensor::view(dtype, shape, base_ + slot.offset, arena_);
  }
  // An output in arena memory other than its slot or its planned view would be
  // overwritten before its last reader, so it is copied to the heap.
  void after_node(size_t node, KernelContext& ctx) override {
    for (size_t o = 0; o < ctx.outputs.size(); ++o) {
      Tensor& out = ctx.outputs[o];
      if (!points_into(out.raw(), base_, arena_bytes_)) continue;
      const OutputPlacement& slot = plan_.outputs[node][o];
      const bool in_slot = slot.bytes > 0 && out.raw() == base_ + slot.offset;
      const int source = slot.aliased_input;
      const bool planned_view = source >= 0 && ctx.has_input(source) &&
                                points_into(out.raw(), ctx.inputs[source]->raw(), ctx.inputs[source]->nbytes());
      if (!in_slot && !planned_view) out = out.clone();
    }
  }

 private:
  const ActivationPlan& plan_;
  const std::shared_ptr<void>& arena_;
  char* base_;
  size_t arena_bytes_;
  size_t node_ = 0;
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
};

ExecutionContext::ExecutionContext(std::shared_ptr<const Executor> executor, int64_t sub_batch)
    : executor_(std::move(executor)), sub_batch_(sub_batch), state_(std::make_unique<State>()) {}
ExecutionContext::~ExecutionContext() = default;
ExecutionContext::ExecutionContext(ExecutionContext&&) noexcept = default;
ExecutionContext& ExecutionContext::operator=(ExecutionContext&&) noexcept = default;

size_t ExecutionContext::peak_activation_bytes() const { return state_->arena_bytes; }

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
    ArenaPlacement placement(plan->second, state_->arena, state_->arena_bytes);
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
