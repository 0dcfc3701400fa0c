#include "builder/sub_batch.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "octet/execution_context.h"
#include "octet/parallel.h"
#include "plugins/plugin_node.h"

namespace octet {
namespace {

// Layers that compute each sample from that sample alone whatever their attributes.
const std::set<std::string> kPerSampleOps = {
    "Conv", "FusedConv", "Int8Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "LpPool", "BatchNormalization", "InstanceNormalization", "LRN", "Relu", "Clip", "Sigmoid",
    "Tanh", "LeakyRelu", "HardSwish", "HardSigmoid", "Elu", "Selu", "Celu", "Exp", "Log", "Sqrt", "Abs", "Neg",
    "Erf", "Gelu", "Softplus", "Softsign", "Mish", "Floor", "Ceil", "Round", "Reciprocal", "Sign", "Not", "IsNaN",
    "IsInf", "Identity", "Cast", "Dropout"};
// Elementwise ops with broadcasting: per sample when no constant operand varies along the batch.
const std::set<std::string> kBroadcastOps = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean",
                                             "PRelu", "Where", "Equal", "Greater", "Less", "GreaterOrEqual",
                                             "LessOrEqual", "And", "Or", "Xor", "Mod", "Int8Add"};
// Ops whose `axis` must not be the batch: {op, default axis before opset 13, from opset 13}.
struct AxisRule {
  int64_t before_13, from_13;
};
const std::map<std::string, AxisRule> kAxisOps = {
    {"Flatten", {1, 1}}, {"Softmax", {1, -1}}, {"LogSoftmax", {1, -1}}, {"Hardmax", {1, -1}},
    {"Concat", {0, 0}},  {"Split", {0, 0}},    {"ArgMax", {0, 0}},      {"ArgMin", {0, 0}}};

class NodeCheck {
 public:
  NodeCheck(const Node& node, const Graph& graph, const std::map<std::string, Shape>& shapes)
      : node_(node), graph_(graph), shapes_(shapes) {}

  // "" when the node keeps samples apart, else why not.
  std::string why_not() const {
    const std::string& op = node_.op_type;
    if (is_plugin_node(node_)) return "it is a plugin layer";
    if (kPerSampleOps.count(op)) return "";
    if (kBroadcastOps.count(op)) return broadcast_operands();
    if (op == "Gemm") {
      if (node_.attr_int("transA", 0)) return "transA reads the batch as the reduction axis";
      if (!is_weight(1)) return "B is not a constant";
      return batch_free_constant(2);
    }
    if (op == "MatMul" || op == "Int8MatMul") {
      if (!is_weight(1)) return "B is not a constant";
      const Shape& b = graph_.initializers.at(node_.inputs[1]).shape();
      if (rank(0) < 2 || (b.size() > 2 && static_cast<int64_t>(b.size()) >= rank(0)))
        return "B's leading dims broadcast against the batch";
      return "";
    }
    if (auto rule = kAxisOps.find(op); rule != kAxisOps.end()) {
      const int64_t fallback = graph_.opset(node_.domain) < 13 ? rule->second.before_13 : rule->second.from_13;
      if (axis_of(node_.attr_int("axis", fallback)) == 0) return "it works along the batch axis";
      for (size_t i = 0; op == "Concat" && i < node_.inputs.size(); ++i)
        if (is_weight(i)) return "it concatenates a constant";
      return "";
    }
    if (op == "Transpose") {
      const auto perm = node_.attr_ints("perm");
      return !perm.empty() && perm[0] == 0 ? "" : "it moves the batch axis";
    }
    if (op == "Reshape") {
      const auto shape = constant_ints(1);
      if (!shape) return "its shape is not a constant";
      return !shape->empty() && ((*shape)[0] == 0 || (*shape)[0] == -1) ? "" : "its shape fixes the batch size";
    }
    if (op == "Squeeze" || op == "Unsqueeze" || op.rfind("Reduce", 0) == 0) return axes_keep_batch();
    if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      if (!is_weight(1)) return "its scale is not a constant";
      if (graph_.initializers.at(node_.inputs[1]).numel() > 1 && axis_of(node_.attr_int("axis", 1)) == 0)
        return "its scales run along the batch axis";
      return "";
    }
    if (op == "Pad") {
      auto pads = node_.has_attr("pads") ? std::optional(node_.attr_ints("pads")) : constant_ints(1);
      if (!pads || node_.inputs.size() > 3) return "its pads are not a constant over every axis";
      const size_t r = pads->size() / 2;
      return r > 0 && (*pads)[0] == 0 && (*pads)[r] == 0 ? "" : "it pads the batch axis";
    }
    if (op == "Slice") {
      const auto axes = constant_ints(3);
      if (!axes) return "its axes are not a constant";
      for (int64_t a : *axes)
        if (axis_of(a) == 0) return "it slices the batch axis";
      return "";
    }
    return "op '" + op + "' is not known to keep samples apart";
  }

 private:
  bool is_weight(size_t i) const { return i < node_.inputs.size() && graph_.initializers.count(node_.inputs[i]); }
  int64_t rank(size_t i) const {
    auto it = shapes_.find(node_.inputs[i]);
    return it == shapes_.end() ? 0 : static_cast<int64_t>(it->second.size());
  }
  int64_t axis_of(int64_t axis) const { return axis < 0 ? axis + rank(0) : axis; }
  std::optional<std::vector<int64_t>> constant_ints(size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i].empty() || !is_weight(i)) return std::nullopt;
    return graph_.initializers.at(node_.inputs[i]).to_int64s();
  }
  // An absent input, or a constant that broadcasts over the batch (rank below the
  // activation's, or dim 0 of 1).
  std::string batch_free_constant(size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i].empty()) return "";
    if (!is_weight(i)) return "input '" + node_.inputs[i] + "' is not a constant";
    const Shape& s = graph_.initializers.at(node_.inputs[i]).shape();
    return static_cast<int64_t>(s.size()) < rank(0) || s.empty() || s[0] == 1
               ? ""
               : "constant '" + node_.inputs[i] + "' varies along the batch axis";
  }
  std::string broadcast_operands() const {
    int64_t out_rank = 0;
    for (size_t i = 0; i < node_.inputs.size(); ++i)
      if (!node_.inputs[i].empty() && !is_weight(i)) out_rank = std::max(out_rank, rank(i));
    for (size_t i = 0; i < node_.inputs.size(); ++i) {
      if (node_.inputs[i].empty()) continue;
      if (!is_weight(i)) {
        if (rank(i) != out_rank) return "input '" + node_.inputs[i] + "' broadcasts along the batch axis";
        continue;
      }
      const Shape& s = graph_.initializers.at(node_.inputs[i]).shape();
      if (static_cast<int64_t>(s.size()) >= out_rank && !s.empty() && s[0] != 1)
        return "constant '" + node_.inputs[i] + "' varies along the batch axis";
    }
    return "";
  }
  // Squeeze / Unsqueeze / Reduce*: explicit axes (attribute or constant input 1), none of them 0.
  std::string axes_keep_batch() const {
    auto axes = node_.has_attr("axes") ? std::optional(node_.attr_ints("axes")) : constant_ints(1);
    if (!axes || axes->empty()) return "it has no constant axes (it may squeeze or reduce the batch)";
    // Unsqueeze's axes index its output, which has one more dim per axis.
    const int64_t axes_rank = rank(0) + (node_.op_type == "Unsqueeze" ? static_cast<int64_t>(axes->size()) : 0);
    for (int64_t a : *axes)
      if ((a < 0 ? a + axes_rank : a) == 0) return "its axes include the batch axis";
    return "";
  }

  const Node& node_;
  const Graph& graph_;
  const std::map<std::string, Shape>& shapes_;
};

using Clock = std::chrono::steady_clock;

// Best milliseconds of one run of `context` on `inputs`, after two untimed runs
// (the first plans the arena, the second warms it).
double time_runs(ExecutionContext& context, const TensorMap& inputs, double min_time_ms) {
  context.execute(inputs);
  context.execute(inputs);
  double best = 1e300, spent = 0;
  for (int runs = 0; runs < 3 || spent < min_time_ms; ++runs) {
    const auto t0 = Clock::now();
    context.execute(inputs);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = std::min(best, ms);
    spent += ms;
  }
  return best;
}

}  // namespace

std::string why_not_per_sample(const Graph& graph, const std::map<std::string, Shape>& shapes, int64_t batch) {
  auto batch_leading = [&](const std::string& name) {
    auto it = shapes.find(name);
    return it != shapes.end() && !it->second.empty() && it->second[0] == batch;
  };
  for (const auto& v : graph.inputs)
    if (!batch_leading(v.name)) return "input '" + v.name + "' does not have the batch as dim 0";
  for (const auto& n : graph.nodes) {
    for (const auto& out : n.outputs)
      if (!out.empty() && !batch_leading(out)) return n.describe() + ": output '" + out + "' does not have the batch as dim 0";
    if (std::string why = NodeCheck(n, graph, shapes).why_not(); !why.empty()) return n.describe() + ": " + why;
  }
  return "";
}

int64_t choose_sub_batch(const Graph& graph, TimingCache& cache, const TacticOptions& options, int64_t requested,
                         const std::function<void(const std::string&)>& log) {
  if (requested == 0) return 0;
  const TensorMap inputs = timing_inputs(graph, options);
  const int64_t batch = inputs.empty() || inputs.begin()->second.rank() == 0 ? 0 : inputs.begin()->second.dim(0);
  if (requested < 0 && batch < 2) return 0;
  auto executor = std::make_shared<const Executor>(graph);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.shape();
  executor->run(inputs, [&](const std::string& name, const Tensor& t) { shapes[name] = t.shape(); });
  if (const std::string why = why_not_per_sample(graph, shapes, batch); !why.empty()) {
    if (requested > 0) throw Error("sub-batches of " + std::to_string(requested) + " samples: " + why);
    log("sub-batches: none, " + why);
    return 0;
  }
  if (requested > 0) return requested;
  std::string signature = "sub-batch#" + graph.fingerprint() + "#";
  for (const auto& n : graph.nodes) signature += n.backend.empty() ? "-," : n.backend + ",";
  for (const auto& [name, t] : inputs) signature += "|" + shape_str(t.shape());
  signature += "@" + std::to_string(num_threads()) + "t";

  // Milliseconds per sample by sub-batch size (the whole batch last). Sizes not in the
  // cache are timed in two interleaved passes, each keeping its best run: the machine's
  // speed drifts between seconds, and one pass would favour the size timed in a fast one.
  std::vector<int64_t> sizes;
  for (int64_t size = 1; size < batch; size *= 2) sizes.push_back(size);
  sizes.push_back(batch);
  std::map<int64_t, double> per_sample;
  std::map<int64_t, std::unique_ptr<ExecutionContext>> contexts;
  for (int64_t size : sizes)
    if (const Timing* known = cache.find(signature, "samples=" + std::to_string(size))) per_sample[size] = known->ms;
    else contexts[size] = std::make_unique<ExecutionContext>(executor);
  for (int pass = 0; pass < 2; ++pass)
    for (auto& [size, context] : contexts) {
      TensorMap part;
      for (const auto& [name, t] : inputs) part[name] = t.batch_slice(0, size);
      const double ms = time_runs(*context, part, std::max(options.min_time_ms, 100.0)) / static_cast<double>(size);
      per_sample[size] = pass == 0 ? ms : std::min(per_sample[size], ms);
    }
  for (const auto& [size, context] : contexts) cache.add(signature, "samples=" + std::to_string(size), {per_sample[size], 0});

  const double whole = per_sample.at(batch);
  int64_t best_size = 0;
  double best = whole;
  std::string table;
  for (int64_t size : sizes) {
    char entry[48];
    std::snprintf(entry, sizeof entry, "%s%lld: %.4g", table.empty() ? "" : ", ", static_cast<long long>(size),
                  per_sample[size]);
    table += entry;
    if (size < batch && per_sample[size] < best) best = per_sample[size], best_size = size;
  }
  // A size must win clearly: a near tie is within the timing noise.
  if (best > 0.95 * whole) best_size = 0;
  log("sub-batches: ms per sample by size (" + table + "): batch " + std::to_string(batch) +
      (best_size ? " runs in sub-batches of " + std::to_string(best_size) : std::string(" runs whole")));
  return best_size;
}

}  // namespace octet
