// BatchNormalization folding. In inference BN is per channel c
//   y = (x - mean[c]) * s[c] + beta[c],  s[c] = gamma[c] / sqrt(var[c] + epsilon),
// an affine map, so after a layer that is itself affine in its weights per
// output channel (Conv: channel = W's row; Gemm: channel = output column) it is
// the same layer with W scaled by s per channel and bias (b - mean) * s + beta.
#include <cmath>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {
namespace {

using graph_edit::find_initializer;

// y = x * scale[c] + shift[c], computed in double.
struct ChannelAffine {
  std::vector<double> scale, shift;
};

bool is_float_initializer(const Tensor* t) { return t && t->dtype() == DType::kFloat32; }

// The BN as a per-channel affine map, when it is an inference-mode BN over
// channels with constant float32 parameters.
std::optional<ChannelAffine> batchnorm_affine(const Graph& g, const Node& bn) {
  if (bn.inputs.size() != 5 || bn.attr_int("training_mode", 0) != 0 || bn.attr_int("spatial", 1) != 1) return std::nullopt;
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (!bn.outputs[o].empty()) return std::nullopt;  // training outputs
  const Tensor* params[4];
  for (size_t k = 0; k < 4; ++k) {
    params[k] = find_initializer(g, bn.inputs[k + 1]);
    if (!is_float_initializer(params[k]) || params[k]->numel() != params[0]->numel()) return std::nullopt;
  }
  const auto [gamma, beta, mean, var] = params;
  const double epsilon = bn.attr_float("epsilon", 1e-5f);
  ChannelAffine a;
  for (int64_t c = 0; c < gamma->numel(); ++c) {
    const double s = gamma->data<float>()[c] / std::sqrt(static_cast<double>(var->data<float>()[c]) + epsilon);
    a.scale.push_back(s);
    a.shift.push_back(beta->data<float>()[c] - mean->data<float>()[c] * s);
  }
  return a;
}

// b'[c] = b[c] * scale[c] + shift[c], b absent = zeros (`bias_scale` scales b first: Gemm's beta).
Tensor folded_bias(const Tensor* bias, double bias_scale, const ChannelAffine& bn) {
  const int64_t channels = static_cast<int64_t>(bn.scale.size());
  Tensor out(DType::kFloat32, {channels});
  for (int64_t c = 0; c < channels; ++c) {
    const double b = bias ? bias_scale * bias->data<float>()[bias->numel() == 1 ? 0 : c] : 0.0;
    out.data<float>()[c] = static_cast<float>(b * bn.scale[c] + bn.shift[c]);
  }
  return out;
}

// W with element i multiplied by the scale of channel channel_of(i).
template <class ChannelOf>
Tensor scaled_weight(const Tensor& w, const ChannelAffine& bn, ChannelOf channel_of) {
  Tensor out(DType::kFloat32, w.shape());
  for (int64_t i = 0; i < w.numel(); ++i)
    out.data<float>()[i] = static_cast<float>(w.data<float>()[i] * bn.scale[channel_of(i)]);
  return out;
}

// Conv W [M, C/group, k...], optional B [M]: channel = W's row.
bool fold_into_conv(Graph& g, Node& conv, const ChannelAffine& bn, const std::string& name) {
  const Tensor* w = find_initializer(g, conv.inputs.size() > 1 ? conv.inputs[1] : "");
  const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
  const Tensor* b = has_bias ? find_initializer(g, conv.inputs[2]) : nullptr;
  const int64_t channels = static_cast<int64_t>(bn.scale.size());
  if (!is_float_initializer(w) || w->rank() < 3 || w->dim(0) != channels) return false;
  if (has_bias && (!is_float_initializer(b) || b->numel() != channels)) return false;
  const int64_t per_channel = w->numel() / channels;
  Tensor new_w = scaled_weight(*w, bn, [&](int64_t i) { return i / per_channel; });
  conv.inputs.resize(3);
  conv.inputs[1] = graph_edit::unused_name(g, name + "/folded_weight");
  g.initializers[conv.inputs[1]] = std::move(new_w);
  Tensor new_b = folded_bias(b, 1.0, bn);
  conv.inputs[2] = graph_edit::unused_name(g, name + "/folded_bias");
  g.initializers[conv.inputs[2]] = std::move(new_b);
  return true;
}

// Gemm Y = alpha * A' B' + beta * C with constant B: channel = output column, so
// B's columns (rows when transB) scale, and C must be one value per column.
bool fold_into_gemm(Graph& g, Node& gemm, const ChannelAffine& bn, const std::string& name) {
  const Tensor* w = find_initializer(g, gemm.inputs.size() > 1 ? gemm.inputs[1] : "");
  const bool has_c = gemm.inputs.size() > 2 && !gemm.inputs[2].empty();
  const Tensor* c = has_c ? find_initializer(g, gemm.inputs[2]) : nullptr;
  const int64_t channels = static_cast<int64_t>(bn.scale.size());
  const bool trans_b = gemm.attr_int("transB", 0) != 0;
  if (!is_float_initializer(w) || w->rank() != 2 || w->dim(trans_b ? 0 : 1) != channels) return false;
  const bool per_column_c = c && (c->numel() == 1 || (c->numel() == channels && c->dim(-1) == channels));
  if (has_c && (!is_float_initializer(c) || !per_column_c)) return false;
  const int64_t cols = w->dim(1);
  Tensor new_w = scaled_weight(*w, bn, [&](int64_t i) { return trans_b ? i / cols : i % cols; });
  Tensor new_c = folded_bias(c, gemm.attr_float("beta", 1.0f), bn);
  gemm.inputs.resize(3);
  gemm.inputs[1] = graph_edit::unused_name(g, name + "/folded_weight");
  g.initializers[gemm.inputs[1]] = std::move(new_w);
  gemm.inputs[2] = graph_edit::unused_name(g, name + "/folded_bias");
  g.initializers[gemm.inputs[2]] = std::move(new_c);
  gemm.attributes["beta"] = 1.0f;
  return true;
}

}  // namespace

int fold_batch_normalization(Graph& g) {
  const graph_edit::Readers readers = graph_edit::readers_of_values(g);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
  std::vector<bool> folded(g.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.empty()) continue;
    auto p = producer.find(bn.inputs[0]);
    if (p == producer.end() || graph_edit::sole_reader(g, readers, bn.inputs[0]) != i) continue;
    Node& layer = g.nodes[p->second];
    if (!layer.domain.empty() || layer.outputs.size() != 1) continue;
    const auto affine = batchnorm_affine(g, bn);
    if (!affine) continue;
    const std::string& name = bn.outputs[0];
    const bool done = layer.op_type == "Conv"   ? fold_into_conv(g, layer, *affine, name)
                      : layer.op_type == "Gemm" ? fold_into_gemm(g, layer, *affine, name)
                                                : false;
    if (!done) continue;
    layer.outputs[0] = name;  // the layer now computes the BN's output
    folded[i] = true;
    ++count;
  }
  graph_edit::erase_nodes(g, folded);
  return count;
}

}  // namespace octet
