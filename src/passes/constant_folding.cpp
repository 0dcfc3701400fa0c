// Constant folding: nodes computable at build time, evaluated once with the
// reference kernels (the executable spec, so the result is what the node would
// compute at run time) and replaced by initializers.
#include <set>

#include "octet/kernel.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {
namespace {

// Ops in the ONNX domain whose outputs are not a function of their inputs, and
// Q/DQ, whose scales an explicitly quantized network hands to the engine:
// folding a weight's DequantizeLinear would erase its quantization.
bool foldable_op(const Node& n) {
  static const std::set<std::string> kNeverFolded = {"RandomNormal",     "RandomUniform", "RandomNormalLike",
                                                     "RandomUniformLike", "Multinomial",  "Bernoulli",
                                                     "QuantizeLinear",    "DequantizeLinear"};
  return n.domain.empty() && !kNeverFolded.count(n.op_type);
}

// For Shape of a value whose dims are all static: a data-less tensor of those
// dims (the Shape kernel reads nothing else).
std::optional<Tensor> static_shape_stand_in(const Graph& g, const Node& n) {
  if (n.op_type != "Shape" || n.inputs.empty()) return std::nullopt;
  const auto dims = graph_edit::declared_dims(g, n.inputs[0]);
  if (!dims) return std::nullopt;
  Shape shape;
  for (const Dim& d : *dims) {
    if (!d.known()) return std::nullopt;
    shape.push_back(d.value);
  }
  return Tensor::view(DType::kFloat32, std::move(shape), nullptr, nullptr);
}

}  // namespace

int fold_constants(Graph& g) {
  std::vector<bool> folded(g.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (!foldable_op(node)) continue;
    const std::optional<Tensor> shape_stand_in = static_shape_stand_in(g, node);
    std::vector<const Tensor*> inputs;
    bool constant = true;
    for (const auto& name : node.inputs) {
      const Tensor* t = name.empty() ? nullptr : graph_edit::find_initializer(g, name);
      if (!name.empty() && !t) constant = false;
      inputs.push_back(t);
    }
    if (shape_stand_in) inputs = {&*shape_stand_in}, constant = true;
    if (!constant) continue;
    const int64_t opset = g.opset(node.domain);
    const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, opset, "reference");
    if (!def) continue;  // the executor reports the unsupported op when the engine is built
    KernelContext ctx{node, opset, inputs, std::vector<Tensor>(node.outputs.size())};
    try {
      const auto kernel = def->bind(node, g);
      if (!kernel) continue;
      kernel->run(ctx);
    } catch (const Error&) {
      continue;  // left in place, to fail at run time the way it always has
    }
    for (size_t o = 0; o < node.outputs.size(); ++o)
      if (!node.outputs[o].empty()) g.initializers[node.outputs[o]] = std::move(ctx.outputs[o]);
    folded[i] = true;
    ++count;
  }
  graph_edit::erase_nodes(g, folded);
  return count;
}

}  // namespace octet
