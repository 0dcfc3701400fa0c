// Channels-last layout: convolutions and pooling switch to NHWC activations, and
// with them the layout-neutral nodes between them, so that Transposes remain only
// where the network enters and leaves such regions. oneDNN's fast convolutions on
// AVX-512 and AMX (brgemm) work on NHWC; with NCHW between layers every layer paid a
// reorder each way, and those reorders cost more than the convolutions themselves
// (ResNet-50 INT8, batch 64, before this pass: about twice; the command in
// docs/graph_passes.md measures it).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "plugins/plugin_node.h"

namespace octet {
namespace {

// Elementwise ops that compute the same thing in any layout when every input is
// either an NHWC value of the output's shape or a one-element constant.
bool is_layout_neutral(const Node& n) {
  static const std::set<std::string> onnx = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                                             "QuantizeLinear", "DequantizeLinear", "Add", "Sub", "Mul", "Div"};
  return (n.domain.empty() && onnx.count(n.op_type)) || (n.domain == "octet" && n.op_type == "Int8Add");
}

int rank_of(const Graph& g, const std::string& name) {
  const auto dims = graph_edit::declared_dims(g, name);
  return dims ? static_cast<int>(dims->size()) : -1;
}

class ChannelsLastConversion {
 public:
  explicit ChannelsLastConversion(Graph& g) : g_(g) {}

  int run() {
    std::vector<bool> converted(g_.nodes.size(), false);
    int count = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      converted[i] = convertible(g_.nodes[i]);
      if (!converted[i]) continue;
      ++count;
      for (const auto& out : g_.nodes[i].outputs)
        if (!out.empty()) nhwc_.insert(out);
    }
    if (count == 0) return 0;
    // Graph outputs keep their names and NCHW: the node writes a renamed NHWC
    // value and a Transpose restores the output.
    for (const auto& out : g_.outputs)
      if (nhwc_.count(out.name)) nhwc_name_[out.name] = graph_edit::unused_name(g_, out.name + "/nhwc");

    std::vector<Node> nodes;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node n = g_.nodes[i];
      if (converted[i]) {
        rewrite_converted(n);
      } else {
        for (auto& in : n.inputs)
          if (nhwc_.count(in)) in = channels_first(in);
      }
      nodes.push_back(std::move(n));
    }
    for (const auto& name : nhwc_) {
      auto renamed = nhwc_name_.find(name);
      add_value_info(renamed == nhwc_name_.end() ? name : renamed->second, name, kNchwToNhwc);
    }
    nodes.insert(nodes.end(), transposes_.begin(), transposes_.end());
    g_.nodes = std::move(nodes);
    g_.sort_topologically();
    return count;
  }

 private:
  // A value's rank: 4 for every value in nhwc_ (converted nodes read 4-D activations
  // and write 4-D outputs, declared or not), else as declared (-1 where undeclared).
  int rank(const std::string& name) const { return nhwc_.count(name) ? 4 : rank_of(g_, name); }

  bool convertible(const Node& n) const {
    if (is_plugin_node(n)) return plugin_converts(n);
    const std::vector<size_t> activations = channels_last_inputs(n);
    if (!activations.empty()) {
      for (size_t i : activations)
        if (rank(n.inputs[i]) != 4) return false;
      return true;
    }
    if (n.outputs.size() != 1) return false;
    if (n.op_type == "Concat" && n.domain.empty()) {
      const int64_t axis = n.attr_int("axis", 1);
      if (axis != 1 && axis != -3) return false;
      for (const auto& in : n.inputs)
        if (!nhwc_.count(in)) return false;
      return !n.inputs.empty();
    }
    // An undeclared output has its widest input's rank: 4, where the other operands
    // are one-element constants of rank 4 or less.
    const int output_rank = rank_of(g_, n.outputs[0]);
    if (!is_layout_neutral(n) || (output_rank != 4 && output_rank != -1)) return false;
    // Another operand's broadcast would differ between layouts unless it has one element.
    bool reads_nhwc = false;
    for (const auto& in : n.inputs) {
      if (in.empty()) continue;
      if (nhwc_.count(in)) {
        reads_nhwc = true;
      } else {
        const Tensor* t = graph_edit::find_initializer(g_, in);
        if (!t || t->numel() != 1 || t->rank() > 4) return false;
      }
    }
    return reads_nhwc;
  }

  // A plugin reading only NHWC values switches when it supports channels-last
  // (with the precision the quantizer chose); otherwise it reads NCHW copies.
  bool plugin_converts(const Node& n) const {
    for (const auto& in : n.inputs)
      if (!nhwc_.count(in)) return false;
    for (const auto& out : n.outputs)
      if (rank_of(g_, out) != 4) return false;
    return !n.inputs.empty() && plugin_supports_channels_last(n, g_);
  }

  void rewrite_converted(Node& n) {
    const std::vector<size_t> activations = channels_last_inputs(n);
    for (size_t i : activations)
      if (!nhwc_.count(n.inputs[i])) n.inputs[i] = channels_last(n.inputs[i]);
    for (auto& in : n.inputs)
      if (auto it = nhwc_name_.find(in); it != nhwc_name_.end()) in = it->second;
    for (auto& out : n.outputs) {
      auto it = nhwc_name_.find(out);
      if (it == nhwc_name_.end()) continue;
      add_transpose(it->second, out, kNhwcToNchw);
      out = it->second;
    }
    if (n.op_type == "Concat") n.attributes["axis"] = int64_t{3};
    n.attributes[kLayoutAttribute] = std::string(kChannelsLast);
  }

  // The NHWC copy of an NCHW value, made once.
  std::string channels_last(const std::string& name) {
    if (auto it = to_nhwc_.find(name); it != to_nhwc_.end()) return it->second;
    const std::string out = graph_edit::unused_name(g_, name + "/nhwc");
    add_transpose(name, out, kNchwToNhwc);
    add_value_info(out, name, kNchwToNhwc);
    return to_nhwc_[name] = out;
  }

  // The NCHW form of an NHWC value, for readers that stay NCHW: the graph output
  // itself, or a Transpose made once.
  std::string channels_first(const std::string& name) {
    if (nhwc_name_.count(name)) return name;
    if (auto it = to_nchw_.find(name); it != to_nchw_.end()) return it->second;
    const std::string out = graph_edit::unused_name(g_, name + "/nchw");
    add_transpose(name, out, kNhwcToNchw);
    add_value_info(out, name, {0, 1, 2, 3});
    return to_nchw_[name] = out;
  }

  void add_transpose(const std::string& from, const std::string& to, const std::vector<int64_t>& perm) {
    Node t;
    t.name = to + "/transpose";
    t.op_type = "Transpose";
    t.inputs = {from};
    t.outputs = {to};
    t.attributes["perm"] = perm;
    transposes_.push_back(std::move(t));
  }

  // Declares `name` as `source`'s value (as declared before this pass) with its dims permuted by `perm`.
  void add_value_info(const std::string& name, const std::string& source, const std::vector<int64_t>& perm) {
    const ValueInfo* v = g_.find_value(source);
    if (!v) return;
    ValueInfo info = *v;
    info.name = name;
    if (info.has_shape && info.dims.size() == 4) {
      const std::vector<Dim> dims = info.dims;
      for (size_t d = 0; d < 4; ++d) info.dims[d] = dims[perm[d]];
    }
    g_.value_info[name] = info;
  }

  Graph& g_;
  std::set<std::string> nhwc_;                      // values the converted nodes write (original names)
  std::map<std::string, std::string> nhwc_name_;    // graph output -> its NHWC value's name
  std::map<std::string, std::string> to_nhwc_, to_nchw_;
  std::vector<Node> transposes_;
};

}  // namespace

int convert_to_channels_last(Graph& g) { return ChannelsLastConversion(g).run(); }

}  // namespace octet
