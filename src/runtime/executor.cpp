#include "octet/executor.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "plugins/plugin_node.h"

namespace octet {

Executor::Executor(Graph graph, const std::string& backend, OptimizationProfile profile)
    : graph_(std::move(graph)), profile_(std::move(profile)) {
  const auto& registry = KernelRegistry::global();
  auto bind_builtin = [&](const Node& node) {
    const std::string& chosen = node.backend.empty() ? backend : node.backend;
    const KernelDef* def = registry.find(node.domain, node.op_type, graph_.opset(node.domain), chosen);
    if (!def)
      throw UnsupportedError(node.describe() + ": op '" + node.op_type + "' at opset " +
                             std::to_string(graph_.opset(node.domain)) + " is not supported by the " +
                             chosen + " backend");
    std::unique_ptr<PreparedKernel> kernel = def->bind(node, graph_);
    if (!kernel)
      throw UnsupportedError(node.describe() + ": the " + chosen + " backend does not handle this configuration");
    return kernel;
  };
  for (const auto& node : graph_.nodes) {
    std::unique_ptr<PreparedKernel> kernel = is_plugin_node(node) ? bind_plugin(node, graph_) : bind_builtin(node);
    steps_.push_back(Step{std::move(kernel), graph_.opset(node.domain), {}, {}, {}, {}});
  }
  // Give every value a slot, and free each intermediate after its last reader.
  auto slot = [&](const std::string& name) {
    auto [it, inserted] = slot_of_.emplace(name, slot_of_.size());
    return it->second;
  };
  for (const auto& v : graph_.inputs) slot(v.name);
  for (const auto& [name, t] : graph_.initializers) slot(name);
  std::map<size_t, size_t> last_use;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (const auto& in : graph_.nodes[i].inputs)
      if (!in.empty()) last_use[slot(in)] = i;
    for (const auto& out : graph_.nodes[i].outputs)
      if (!out.empty()) last_use[slot(out)] = i;
  }
  std::set<size_t> kept;  // graph outputs, inputs and weights are never freed
  for (const auto& v : graph_.outputs) kept.insert(output_slots_.emplace_back(slot(v.name)));
  for (const auto& v : graph_.inputs) kept.insert(slot(v.name));
  for (const auto& [name, t] : graph_.initializers) kept.insert(slot(name));
  initial_values_.resize(slot_of_.size());
  for (const auto& [name, t] : graph_.initializers) initial_values_[slot_of_.at(name)] = t;
  for (const auto& [s, node] : last_use)
    if (!kept.count(s)) steps_[node].release_after.push_back(s);
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (const auto& in : graph_.nodes[i].inputs) steps_[i].inputs.push_back(in.empty() ? -1 : static_cast<long>(slot_of_.at(in)));
    for (const auto& out : graph_.nodes[i].outputs)
      steps_[i].outputs.push_back(out.empty() ? -1 : static_cast<long>(slot_of_.at(out)));
    const std::vector<long>& ins = steps_[i].inputs;
    const std::vector<size_t>& dying = steps_[i].release_after;
    for (long in : ins)
      steps_[i].last_read.push_back(in >= 0 && std::count(ins.begin(), ins.end(), in) == 1 &&
                                    std::count(dying.begin(), dying.end(), static_cast<size_t>(in)) == 1);
  }
}

namespace {
// Whether the byte ranges of two tensors overlap.
bool overlap(const Tensor& a, const Tensor& b) {
  const auto a0 = reinterpret_cast<uintptr_t>(a.raw()), b0 = reinterpret_cast<uintptr_t>(b.raw());
  return a.nbytes() && b.nbytes() && a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}
}  // namespace

void Executor::check_inputs(const TensorMap& inputs) const {
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const auto& v : graph_.inputs) known |= v.name == name;
    if (!known) {
      std::string names;
      for (const auto& v : graph_.inputs) names += (names.empty() ? "" : ", ") + v.name;
      throw Error("unknown input '" + name + "'; the model's inputs are: " + names);
    }
  }
  for (const auto& v : graph_.inputs) {
    auto it = inputs.find(v.name);
    if (it == inputs.end()) throw Error("missing input '" + v.name + "' " + v.shape_str());
    const Tensor& t = it->second;
    if (v.dtype != DType::kUndefined && t.dtype() != v.dtype)
      throw Error("input '" + v.name + "' must be " + std::string(dtype_name(v.dtype)) + ", got " +
                  std::string(dtype_name(t.dtype())));
    if (!v.has_shape) continue;
    bool ok = static_cast<size_t>(t.rank()) == v.dims.size();
    for (size_t d = 0; ok && d < v.dims.size(); ++d)
      ok = !v.dims[d].known() || v.dims[d].value == t.shape()[d];
    if (!ok)
      throw Error("input '" + v.name + "' must have shape " + v.shape_str() + ", got " +
                  shape_str(t.shape()));
    auto lo = profile_.min.find(v.name), hi = profile_.max.find(v.name);
    if (lo == profile_.min.end() || hi == profile_.max.end()) continue;
    bool inside = t.shape().size() == lo->second.size() && t.shape().size() == hi->second.size();
    for (size_t d = 0; inside && d < t.shape().size(); ++d)
      inside = lo->second[d] <= t.shape()[d] && t.shape()[d] <= hi->second[d];
    if (!inside)
      throw Error("input '" + v.name + "' has shape " + shape_str(t.shape()) +
                  ", outside the engine's optimisation profile (min " + shape_str(lo->second) + ", max " +
                  shape_str(hi->second) + "); build the engine with a profile that covers it");
  }
}

TensorMap Executor::run(const TensorMap& inputs, const ValueObserver& observer, RunMemory* memory) const {
  check_inputs(inputs);
  return run_checked(inputs, observer, memory);
}

TensorMap Executor::run_checked(const TensorMap& inputs, const ValueObserver& observer, RunMemory* memory) const {
  std::vector<Tensor> values = initial_values_;
  for (const auto& [name, t] : inputs) values[slot_of_.at(name)] = t;

  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& node = graph_.nodes[i];
    const Step& step = steps_[i];
    KernelContext ctx{node, step.opset, {}, std::vector<Tensor>(node.outputs.size())};
    if (memory) {
      ctx.allocator = memory->allocator_for(i);
      if ((ctx.stream = memory->stream())) ctx.device_scratch = [memory](size_t bytes) { return memory->device_scratch(bytes); };
    }
    // A dying input may be overwritten unless its memory is also another live
    // value's (a Reshape's view of it, a graph input).
    ctx.overwritable = [&](size_t k) {
      if (k >= step.last_read.size() || !step.last_read[k]) return false;
      const Tensor& t = values[step.inputs[k]];
      for (size_t s = 0; s < values.size(); ++s)
        if (static_cast<long>(s) != step.inputs[k] && !values[s].empty() && overlap(values[s], t)) return false;
      return true;
    };
    ctx.inputs.reserve(step.inputs.size());
    for (size_t k = 0; k < step.inputs.size(); ++k) {
      const Tensor* t = step.inputs[k] < 0 ? nullptr : &values[step.inputs[k]];
      if (t && t->empty()) throw Error(node.describe() + ": input '" + node.inputs[k] + "' was never computed");
      ctx.inputs.push_back(t);
    }
    try {
      step.kernel->run(ctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(node.describe() + ": " + e.what());
    }
    if (memory) memory->after_node(i, ctx);
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      if (step.outputs[o] < 0) continue;
      if (ctx.outputs[o].empty()) throw Error(node.describe() + ": produced no output " + std::to_string(o));
      if (observer) observer(node.outputs[o], ctx.outputs[o]);
      values[step.outputs[o]] = std::move(ctx.outputs[o]);
    }
    for (size_t s : step.release_after) values[s] = Tensor();
  }
  TensorMap out;
  for (size_t o = 0; o < graph_.outputs.size(); ++o) {
    const Tensor& t = values[output_slots_[o]];
    if (t.empty()) throw Error("graph output '" + graph_.outputs[o].name + "' was never computed");
    out[graph_.outputs[o].name] = t;
  }
  return out;
}

}  // namespace octet
