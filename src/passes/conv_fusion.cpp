// FP32 fusion of Conv with what follows it into octet.FusedConv:
//   Conv -> [Add(·, Z)] -> [activation] -> [MaxPool]   =>   FusedConv(X, W, B, Z)
// computing [MaxPool](activation(conv(X) + B + Z)); a MaxPool only without a
// residual, and only one without padding, dilation, ceil mode or Indices. Each absorbed node must be the only
// reader of the value before it, and that value no graph output, so no one else
// sees the intermediate values the fusion drops.
#include <algorithm>
#include <limits>

#include "kernels/pooled_conv.h"

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {
namespace {

using graph_edit::find_initializer;

// Clip's bounds when constant: attributes before opset 11, one-value float32
// initializer inputs from 11; an absent bound is unbounded.
std::optional<std::pair<float, float>> constant_clip_bounds(const Graph& g, const Node& clip) {
  float bounds[2] = {clip.attr_float("min", std::numeric_limits<float>::lowest()),
                     clip.attr_float("max", std::numeric_limits<float>::max())};
  for (size_t k = 1; k < 3 && k < clip.inputs.size(); ++k) {
    if (clip.inputs[k].empty()) continue;
    const Tensor* t = find_initializer(g, clip.inputs[k]);
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return std::nullopt;
    bounds[k - 1] = t->data<float>()[0];
  }
  return std::make_pair(bounds[0], bounds[1]);
}

// The Add's other operand when `add` adds `value` to a tensor of the same shape
// (so no broadcasting), else "".
std::string residual_operand(const Graph& g, const Node& add, const std::string& value) {
  if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) return "";
  const std::string& other = add.inputs[0] == value ? add.inputs[1] : add.inputs[0];
  return graph_edit::same_shape(g, value, other) ? other : "";
}

// FusedConv's pooling attributes for `pool`, when it is a 2-D MaxPool the kernels
// fuse: every window whole inside the convolution's output, no Indices output.
std::optional<std::map<std::string, Attribute>> max_pool_attributes(const Node& pool) {
  if (pool.op_type != "MaxPool" || !pool.domain.empty()) return std::nullopt;
  if (pool.outputs.size() > 1 && !pool.outputs[1].empty()) return std::nullopt;
  const Shape kernel = pool.attr_ints("kernel_shape", {});
  const Shape strides = pool.attr_ints("strides", Shape(kernel.size(), 1));
  const Shape pads = pool.attr_ints("pads", Shape(2 * kernel.size(), 0));
  const Shape dilations = pool.attr_ints("dilations", Shape(kernel.size(), 1));
  const std::string auto_pad = pool.attr_string("auto_pad", "NOTSET");
  auto all = [](const Shape& s, auto pred) { return std::all_of(s.begin(), s.end(), pred); };
  if (kernel.size() != 2 || strides.size() != 2 || !all(kernel, [](int64_t v) { return v > 0; }) ||
      !all(strides, [](int64_t v) { return v > 0; }) || !all(pads, [](int64_t v) { return v == 0; }) ||
      !all(dilations, [](int64_t v) { return v == 1; }) || (auto_pad != "NOTSET" && auto_pad != "VALID") ||
      pool.attr_int("ceil_mode", 0) != 0 || pool.attr_int("storage_order", 0) != 0)
    return std::nullopt;
  return std::map<std::string, Attribute>{{kPoolKernelShape, kernel}, {kPoolStrides, strides}};
}

}  // namespace

std::optional<std::map<std::string, Attribute>> fused_activation_attributes(const Graph& g, const Node& act) {
  if (!act.domain.empty()) return std::nullopt;
  if (act.op_type == "Relu") return std::map<std::string, Attribute>{{"activation", std::string("relu")}};
  if (act.op_type == "Sigmoid") return std::map<std::string, Attribute>{{"activation", std::string("sigmoid")}};
  if (act.op_type == "HardSwish") return std::map<std::string, Attribute>{{"activation", std::string("hard_swish")}};
  if (act.op_type == "LeakyRelu")
    return std::map<std::string, Attribute>{{"activation", std::string("leaky_relu")},
                                            {"alpha", act.attr_float("alpha", 0.01f)}};
  if (act.op_type == "Clip") {
    const auto bounds = constant_clip_bounds(g, act);
    if (!bounds) return std::nullopt;
    return std::map<std::string, Attribute>{
        {"activation", std::string("clip")}, {"clip_min", bounds->first}, {"clip_max", bounds->second}};
  }
  return std::nullopt;
}


ConvFusionCounts fuse_conv_activations(Graph& g) {
  const graph_edit::Readers readers = graph_edit::readers_of_values(g);
  // Nodes merged into a FusedConv; the FusedConv takes the slot of the last node
  // of its chain (after Z's producer, which precedes the Add).
  std::vector<bool> absorbed(g.nodes.size(), false);
  ConvFusionCounts counts;
  auto next_reader = [&](const std::string& value) -> std::optional<size_t> {
    auto r = graph_edit::sole_reader(g, readers, value);
    return r && !absorbed[*r] ? r : std::nullopt;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op_type != "Conv" || !g.nodes[i].domain.empty() || absorbed[i]) continue;
    Node fused = g.nodes[i];
    fused.inputs.resize(3);  // X, W, B ("" when absent)
    std::vector<size_t> chain = {i};
    auto absorb = [&](size_t k) {
      fused.name += " + " + g.nodes[k].name;
      fused.outputs = g.nodes[k].outputs;
      chain.push_back(k);
    };
    if (auto r = next_reader(fused.outputs[0])) {
      const std::string z = residual_operand(g, g.nodes[*r], fused.outputs[0]);
      if (!z.empty()) {
        fused.inputs.push_back(z);
        absorb(*r);
        ++counts.residual_adds;
      }
    }
    if (auto r = next_reader(fused.outputs[0])) {
      if (auto attrs = fused_activation_attributes(g, g.nodes[*r])) {
        fused.attributes.insert(attrs->begin(), attrs->end());
        absorb(*r);
        ++counts.activations;
      }
    }
    if (auto r = next_reader(fused.outputs[0]); r && fused.inputs.size() == 3) {
      if (auto attrs = max_pool_attributes(g.nodes[*r])) {
        fused.attributes.insert(attrs->begin(), attrs->end());
        absorb(*r);
        ++counts.max_pools;
      }
    }
    if (chain.size() == 1) continue;
    if (fused.inputs.size() == 3 && fused.inputs[2].empty()) fused.inputs.resize(2);
    fused.op_type = "FusedConv";
    fused.domain = "octet";
    fused.backend.clear();  // a kernel chosen for the Conv does not implement FusedConv
    fused.attributes.emplace("activation", std::string("none"));
    for (size_t k : chain) absorbed[k] = true;
    absorbed[chain.back()] = false;
    g.nodes[chain.back()] = std::move(fused);
  }
  graph_edit::erase_nodes(g, absorbed);
  if (counts.activations + counts.residual_adds + counts.max_pools > 0) g.opsets["octet"] = 1;
  return counts;
}

}  // namespace octet
