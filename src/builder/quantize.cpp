#include "builder/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "plugins/plugin_node.h"

namespace octet {
namespace {

// A Relu or Clip folded into the requantization of the layer before it.
struct FusedActivation {
  std::string kind;  // "relu" or "clip"
  float min = 0, max = 0;
  size_t node;       // index of the absorbed activation node
};

// Layers INT8 passes through unchanged (same scale in and out): they only move or select values.
bool is_int8_passthrough(const std::string& op) {
  return op == "MaxPool" || op == "Relu" || op == "Flatten" || op == "Reshape" || op == "Squeeze" ||
         op == "Unsqueeze" || op == "Transpose" || op == "Identity";
}

int8_t quantize_weight(float w, float scale) {
  return static_cast<int8_t>(std::clamp(std::nearbyint(w / scale), -127.0f, 127.0f));
}

class Quantizer {
 public:
  Quantizer(const Graph& g, const std::map<std::string, float>& scales, const std::set<std::string>& fp32_layers)
      : in_(g), scales_(scales), fp32_layers_(fp32_layers) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& name : g.nodes[i].inputs)
        if (!name.empty()) consumers_[name].push_back(i);
    for (const auto& v : g.outputs) graph_outputs_.insert(v.name);
  }

  QuantizedNetwork run() {
    plan_fusions();
    decide_precisions();
    out_.graph.name = in_.name;
    out_.graph.inputs = in_.inputs;
    out_.graph.outputs = in_.outputs;
    out_.graph.opsets = in_.opsets;
    out_.graph.opsets["octet"] = 1;
    out_.graph.value_info = in_.value_info;
    for (size_t i = 0; i < in_.nodes.size(); ++i)
      if (mode_[i] != Mode::kFp32 || absorbed_.count(i)) out_.int8_layers.insert(in_.nodes[i].name);
    for (size_t i = 0; i < in_.nodes.size(); ++i) {
      if (absorbed_.count(i)) continue;
      if (mode_[i] == Mode::kCompute) emit_compute(i);
      else if (mode_[i] == Mode::kPassthrough) emit_passthrough(i);
      else if (mode_[i] == Mode::kInt8Plugin) emit_int8_plugin(i);
      else emit_fp32(i);
    }
    keep_used_initializers();
    for (const auto& [name, scale] : out_.scales) {
      ValueInfo& v = out_.graph.value_info[name];
      v.name = name;
      v.dtype = DType::kInt8;
    }
    return std::move(out_);
  }

 private:
  // kInt8Plugin: a plugin that declared INT8 for all its tensors gets INT8 inputs and gives INT8 outputs.
  enum class Mode { kFp32, kCompute, kPassthrough, kInt8Plugin };

  const Tensor* initializer(const std::string& name) const {
    auto it = in_.initializers.find(name);
    return it == in_.initializers.end() ? nullptr : &it->second;
  }
  std::optional<float> scale_of(const std::string& name) const {
    auto it = scales_.find(name);
    return it == scales_.end() ? std::nullopt : std::optional<float>(it->second);
  }
  const std::string& final_output(size_t i) const {
    auto it = fused_.find(i);
    return it == fused_.end() ? in_.nodes[i].outputs[0] : in_.nodes[it->second.node].outputs[0];
  }

  // Relu, or Clip with constant bounds, as the only reader of a Conv/Gemm/MatMul/Add output.
  void plan_fusions() {
    for (size_t i = 0; i < in_.nodes.size(); ++i) {
      const Node& n = in_.nodes[i];
      if (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul" && n.op_type != "Add") continue;
      const std::string& out = n.outputs[0];
      auto it = consumers_.find(out);
      if (graph_outputs_.count(out) || it == consumers_.end() || it->second.size() != 1) continue;
      const size_t c = it->second[0];
      const Node& act = in_.nodes[c];
      if (act.op_type == "Relu") {
        fused_[i] = {"relu", 0, 0, c};
      } else if (act.op_type == "Clip" && n.op_type != "Add") {
        float lo = act.attr_float("min", std::numeric_limits<float>::lowest());
        float hi = act.attr_float("max", std::numeric_limits<float>::max());
        bool constant = true;
        for (size_t k = 1; k < 3 && k < act.inputs.size(); ++k) {
          if (act.inputs[k].empty()) continue;
          const Tensor* t = initializer(act.inputs[k]);
          if (!t || t->numel() != 1) constant = false;
          else (k == 1 ? lo : hi) = static_cast<float>(t->get_as_double(0));
        }
        if (constant) fused_[i] = {"clip", lo, hi, c};
      }
    }
  }

  bool can_run_int8(size_t i) const {
    const Node& n = in_.nodes[i];
    if (fp32_layers_.count(n.name)) return false;
    if (auto f = fused_.find(i); f != fused_.end() && fp32_layers_.count(in_.nodes[f->second.node].name)) return false;
    if (!scale_of(n.inputs[0]) || !scale_of(final_output(i))) return false;
    auto float_init = [&](size_t k, int rank_min, int rank_max) {
      if (k >= n.inputs.size() || n.inputs[k].empty()) return false;
      const Tensor* t = initializer(n.inputs[k]);
      return t && t->dtype() == DType::kFloat32 && t->rank() >= rank_min && t->rank() <= rank_max;
    };
    auto optional_bias = [&](size_t k, int64_t len) {
      if (k >= n.inputs.size() || n.inputs[k].empty()) return true;
      const Tensor* t = initializer(n.inputs[k]);
      return t && t->dtype() == DType::kFloat32 && t->numel() == len;
    };
    if (n.op_type == "Conv")
      return float_init(1, 3, 5) && optional_bias(2, initializer(n.inputs[1])->dim(0));
    if (n.op_type == "MatMul") return float_init(1, 2, 2);
    if (n.op_type == "Gemm") {
      if (!float_init(1, 2, 2) || n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f) return false;
      const Tensor& b = *initializer(n.inputs[1]);
      const int64_t cols = n.attr_int("transB", 0) ? b.dim(0) : b.dim(1);
      return (n.inputs.size() < 3 || n.inputs[2].empty() || n.attr_float("beta", 1.f) == 1.f) && optional_bias(2, cols);
    }
    if (n.op_type == "Add")
      return n.inputs.size() == 2 && !initializer(n.inputs[0]) && !initializer(n.inputs[1]) && scale_of(n.inputs[1]);
    return false;
  }

  // A plugin runs INT8 when every input and output has a scale (graph outputs stay
  // FP32) and the plugin supports INT8 for all of them; otherwise it runs FP32,
  // with DequantizeLinear / QuantizeLinear around it.
  bool can_run_int8_plugin(size_t i) const {
    const Node& n = in_.nodes[i];
    if (!is_plugin_node(n) || fp32_layers_.count(n.name)) return false;
    std::vector<float> input_scales, output_scales;
    for (const auto& in : n.inputs) {
      if (in.empty() || initializer(in) || !scale_of(in)) return false;
      input_scales.push_back(*scale_of(in));
    }
    for (const auto& out : n.outputs) {
      if (out.empty() || graph_outputs_.count(out) || !scale_of(out)) return false;
      output_scales.push_back(*scale_of(out));
    }
    return plugin_supports_int8(n, in_, input_scales, output_scales);
  }

  // Concat stays INT8 only when every input is INT8 at one scale (no requantization needed).
  static bool same_int8_scale(const Node& n, const std::map<std::string, float>& int8_values) {
    for (const auto& in : n.inputs)
      if (!int8_values.count(in) || int8_values.at(in) != int8_values.at(n.inputs[0])) return false;
    return true;
  }

  void decide_precisions() {
    mode_.assign(in_.nodes.size(), Mode::kFp32);
    std::map<std::string, float> int8_values;  // produced by an INT8 layer, with its scale
    for (size_t i = 0; i < in_.nodes.size(); ++i) {
      if (absorbed_.count(i)) continue;
      const Node& n = in_.nodes[i];
      if (can_run_int8(i)) {
        mode_[i] = Mode::kCompute;
        if (auto f = fused_.find(i); f != fused_.end()) absorbed_.insert(f->second.node);
        int8_values[final_output(i)] = *scale_of(final_output(i));
      } else if (can_run_int8_plugin(i)) {
        mode_[i] = Mode::kInt8Plugin;
        for (const auto& out : n.outputs) int8_values[out] = *scale_of(out);
      } else if (!fp32_layers_.count(n.name) && !graph_outputs_.count(n.outputs[0]) &&
                 int8_values.count(n.inputs[0]) &&
                 (is_int8_passthrough(n.op_type) || (n.op_type == "Concat" && same_int8_scale(n, int8_values)))) {
        mode_[i] = Mode::kPassthrough;
        int8_values[n.outputs[0]] = int8_values.at(n.inputs[0]);
      }
    }
    // Fusions planned for layers that stayed FP32 are dropped: their activation runs as a layer.
    for (auto it = fused_.begin(); it != fused_.end();)
      it = mode_[it->first] == Mode::kCompute ? std::next(it) : fused_.erase(it);
    // A compute layer whose readers all run FP32 (or that feeds a graph output) writes FP32 directly.
    for (size_t i = 0; i < in_.nodes.size(); ++i) {
      if (mode_[i] != Mode::kCompute) continue;
      const std::string& out = final_output(i);
      bool int8_reader = false;
      if (auto it = consumers_.find(out); it != consumers_.end())
        for (size_t c : it->second) int8_reader |= mode_[c] != Mode::kFp32 && !absorbed_.count(c);
      if (!int8_reader || graph_outputs_.count(out)) float_output_.insert(i);
    }
  }

  Tensor scalar_initializer(DType dtype, double value) {
    Tensor t(dtype, {});
    t.set_from_double(0, value);
    return t;
  }

  // The INT8 version of a value: itself, or a QuantizeLinear inserted once.
  std::string int8_value(const std::string& name) {
    if (out_.scales.count(name)) return name;
    if (auto it = quantized_.find(name); it != quantized_.end()) return it->second;
    const float scale = *scale_of(name);
    const std::string q = name + "::int8";
    out_.graph.initializers[q + "/scale"] = scalar_initializer(DType::kFloat32, scale);
    out_.graph.initializers[q + "/zero_point"] = scalar_initializer(DType::kInt8, 0);
    out_.graph.nodes.push_back(Node{q + "/quantize", "QuantizeLinear", "", {name, q + "/scale", q + "/zero_point"}, {q}, {}});
    out_.scales[q] = scale;
    declare_like(q, name, DType::kInt8);
    return quantized_[name] = q;
  }

  // The FP32 version of a value: itself, or a DequantizeLinear inserted once.
  std::string fp32_value(const std::string& name) {
    if (!out_.scales.count(name)) return name;
    if (auto it = dequantized_.find(name); it != dequantized_.end()) return it->second;
    const std::string f = name + "::fp32";
    out_.graph.initializers[f + "/scale"] = scalar_initializer(DType::kFloat32, out_.scales.at(name));
    out_.graph.initializers[f + "/zero_point"] = scalar_initializer(DType::kInt8, 0);
    out_.graph.nodes.push_back(Node{f + "/dequantize", "DequantizeLinear", "", {name, f + "/scale", f + "/zero_point"}, {f}, {}});
    declare_like(f, name, DType::kFloat32);
    return dequantized_[name] = f;
  }

  // Declares `value` with the shape of `like` (when known) and `dtype`: later
  // passes (layout) and `octet inspect` read value shapes.
  void declare_like(const std::string& value, const std::string& like, DType dtype) {
    ValueInfo v;
    if (const ValueInfo* known = in_.find_value(like)) v = *known;
    v.name = value;
    v.dtype = dtype;
    out_.graph.value_info[value] = v;
  }

  // Per-output-channel symmetric weights. `rows` x `cols` view of W where each
  // output channel is a row (Conv: M x rest) or a column (MatMul: K x N).
  struct QuantizedWeight {
    Tensor values;
    std::vector<float> scales;
  };
  static QuantizedWeight quantize_per_channel(const Tensor& w, int64_t channels, bool channel_is_row) {
    const int64_t per = w.numel() / channels;
    const float* src = w.data<float>();
    auto at = [&](int64_t c, int64_t k) { return channel_is_row ? c * per + k : k * channels + c; };
    QuantizedWeight q{Tensor(DType::kInt8, w.shape()), std::vector<float>(channels)};
    for (int64_t c = 0; c < channels; ++c) {
      float amax = 0;
      for (int64_t k = 0; k < per; ++k) amax = std::max(amax, std::abs(src[at(c, k)]));
      q.scales[c] = amax > 0 ? amax / 127.0f : 1.0f;
      for (int64_t k = 0; k < per; ++k) q.values.data<int8_t>()[at(c, k)] = quantize_weight(src[at(c, k)], q.scales[c]);
    }
    return q;
  }

  Tensor quantize_bias(const Tensor& b, float x_scale, const std::vector<float>& w_scales) {
    Tensor q(DType::kInt32, {static_cast<int64_t>(w_scales.size())});
    for (size_t c = 0; c < w_scales.size(); ++c) {
      double v = std::nearbyint(static_cast<double>(b.data<float>()[c]) / (static_cast<double>(x_scale) * w_scales[c]));
      q.data<int32_t>()[c] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
    }
    return q;
  }

  void set_output_attributes(Node& q, size_t i) {
    const std::string& out = final_output(i);
    const bool float_out = float_output_.count(i) != 0;
    q.attributes["y_scale"] = *scale_of(out);
    q.attributes["output_dtype"] = std::string(float_out ? "float32" : "int8");
    q.attributes["activation"] = std::string("none");
    if (auto f = fused_.find(i); f != fused_.end()) {
      q.attributes["activation"] = f->second.kind;
      if (f->second.kind == "clip") q.attributes["clip_min"] = f->second.min, q.attributes["clip_max"] = f->second.max;
      q.name += " + " + in_.nodes[f->second.node].name;
    }
    q.outputs = {out};
    if (!float_out) out_.scales[out] = *scale_of(out);
  }

  void emit_compute(size_t i) {
    const Node& n = in_.nodes[i];
    Node q;
    q.name = n.name;
    q.domain = "octet";
    if (n.op_type == "Add") {
      q.op_type = "Int8Add";
      q.inputs = {int8_value(n.inputs[0]), int8_value(n.inputs[1])};
      q.attributes["a_scale"] = out_.scales.at(q.inputs[0]);
      q.attributes["b_scale"] = out_.scales.at(q.inputs[1]);
    } else {
      const std::string x = int8_value(n.inputs[0]);
      const float x_scale = out_.scales.at(x);
      Tensor w = *initializer(n.inputs[1]);
      QuantizedWeight qw;
      if (n.op_type == "Conv") {
        q.op_type = "Int8Conv";
        for (const char* key : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
          if (n.has_attr(key)) q.attributes[key] = n.attributes.at(key);
        qw = quantize_per_channel(w, w.dim(0), /*channel_is_row=*/true);
      } else {  // Gemm / MatMul -> Int8MatMul over a K x N weight
        q.op_type = "Int8MatMul";
        if (n.op_type == "Gemm" && n.attr_int("transB", 0)) w = transposed(w);
        qw = quantize_per_channel(w, w.dim(1), /*channel_is_row=*/false);
      }
      const std::string wname = n.inputs[1] + "::int8";
      out_.graph.initializers[wname] = qw.values;
      q.inputs = {x, wname};
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const std::string bname = n.inputs[2] + "::int32";
        out_.graph.initializers[bname] = quantize_bias(*initializer(n.inputs[2]), x_scale, qw.scales);
        q.inputs.push_back(bname);
      }
      q.attributes["x_scale"] = x_scale;
      q.attributes["w_scales"] = qw.scales;
    }
    set_output_attributes(q, i);
    out_.graph.nodes.push_back(std::move(q));
  }

  static Tensor transposed(const Tensor& w) {
    Tensor t(DType::kFloat32, {w.dim(1), w.dim(0)});
    for (int64_t r = 0; r < w.dim(0); ++r)
      for (int64_t c = 0; c < w.dim(1); ++c) t.data<float>()[c * w.dim(0) + r] = w.data<float>()[r * w.dim(1) + c];
    return t;
  }

  void emit_passthrough(size_t i) {
    Node n = in_.nodes[i];
    out_.scales[n.outputs[0]] = out_.scales.at(n.inputs[0]);
    out_.graph.nodes.push_back(std::move(n));
  }

  // The plugin reads each input's INT8 tensor at that tensor's scale (a pass-through
  // value keeps its producer's) and writes its outputs at their calibrated scales.
  void emit_int8_plugin(size_t i) {
    Node n = in_.nodes[i];
    std::vector<float> input_scales, output_scales;
    for (auto& name : n.inputs) {
      name = int8_value(name);
      input_scales.push_back(out_.scales.at(name));
    }
    for (const auto& out : n.outputs) output_scales.push_back(out_.scales[out] = *scale_of(out));
    n.attributes[kPluginInputScales] = input_scales;
    n.attributes[kPluginOutputScales] = output_scales;
    out_.graph.nodes.push_back(std::move(n));
  }

  void emit_fp32(size_t i) {
    Node n = in_.nodes[i];
    for (auto& name : n.inputs)
      if (!name.empty()) name = fp32_value(name);
    out_.graph.nodes.push_back(std::move(n));
  }

  void keep_used_initializers() {
    std::set<std::string> used;
    for (const auto& n : out_.graph.nodes) used.insert(n.inputs.begin(), n.inputs.end());
    for (const auto& v : out_.graph.outputs) used.insert(v.name);
    for (const auto& [name, t] : in_.initializers)
      if (used.count(name) && !out_.graph.initializers.count(name)) out_.graph.initializers[name] = t;
  }

  const Graph& in_;
  const std::map<std::string, float>& scales_;
  const std::set<std::string>& fp32_layers_;
  std::map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> graph_outputs_;
  std::map<size_t, FusedActivation> fused_;
  std::set<size_t> absorbed_;
  std::vector<Mode> mode_;
  std::set<size_t> float_output_;
  std::map<std::string, std::string> quantized_, dequantized_;
  QuantizedNetwork out_;
};

}  // namespace

QuantizedNetwork quantize_network(const Graph& network, const std::map<std::string, float>& activation_scales,
                                  const std::set<std::string>& fp32_layers) {
  return Quantizer(network, activation_scales, fp32_layers).run();
}

bool has_explicit_quantization(const Graph& network) {
  for (const auto& n : network.nodes)
    if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") return true;
  return false;
}

}  // namespace octet
