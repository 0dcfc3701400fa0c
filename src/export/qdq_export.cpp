// INT8 engine -> QDQ ONNX model. octet's INT8 ops become (an Int8Conv with a
// residual input as its convolution and its Int8Add)
//   DequantizeLinear(inputs) -> FP32 op -> [Relu | Clip] -> QuantizeLinear
// with the engine's scales; every other node is written as it is. ONNX ops have
// no channels-last form: a channels-last conv or pool is written between two
// Transposes, and channels-last elementwise nodes and Concats (already on the
// last axis) just lose the layout attribute.
#include "octet/qdq_export.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "export/onnx_writer.h"
#include "octet/calibration_cache.h"

namespace octet {
namespace {

#ifndef OCTET_VERSION
#define OCTET_VERSION "dev"
#endif

// Per-axis DequantizeLinear (per-channel weights and biases) needs opset 13.
constexpr int64_t kMinOpset = 13;
// Older onnxruntime builds refuse newer IR versions.
constexpr int64_t kIrVersion = 8;

Tensor scalar(DType dtype, double value) {
  Tensor t(dtype, {});
  t.set_from_double(0, value);
  return t;
}

Tensor floats(const std::vector<float>& values) {
  Tensor t(DType::kFloat32, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

class QdqGraphWriter {
 public:
  QdqGraphWriter(const Graph& graph, onnx::GraphProto& out) : out_(out) {
    for (const auto& v : graph.inputs) used_names_.insert(v.name);
    for (const auto& [name, t] : graph.initializers) used_names_.insert(name);
    for (const auto& n : graph.nodes) used_names_.insert(n.outputs.begin(), n.outputs.end());
  }

  void write(const Node& node) {
    Node n = node;
    n.attributes.erase(kLayoutAttribute);
    if (!node.channels_last()) return write_channels_first(n);
    const std::vector<size_t> activations = channels_last_inputs(node);
    for (size_t i : activations) n.inputs[i] = channels_first(n.inputs[i], node);
    if (activations.empty()) return write_channels_first(n);
    // The op writes Y in NCHW, which later channels-last nodes read directly.
    const std::string y = n.outputs[0];
    n.outputs[0] = channels_first_[y] = new_name(y + "::nchw", node);
    write_channels_first(n);
    add_node("Transpose", {n.outputs[0]}, y, {{"perm", kNchwToNhwc}});
  }

 private:
  // An NHWC activation in NCHW, made once per value.
  std::string channels_first(const std::string& value, const Node& n) {
    if (auto it = channels_first_.find(value); it != channels_first_.end()) return it->second;
    const std::string out = new_name(value + "::nchw", n);
    add_node("Transpose", {value}, out, {{"perm", kNhwcToNchw}});
    return channels_first_[value] = out;
  }

  void write_channels_first(const Node& n) {
    if (n.domain != "octet") {
      *out_.add_node() = node_to_proto(n);
      return;
    }
    if (n.op_type == "Int8Conv") write_int8_conv(n);
    else if (n.op_type == "Int8MatMul") write_int8_matmul(n);
    else if (n.op_type == "Int8Add") write_int8_add(n);
    else throw Error(n.describe() + ": octet op with no QDQ form");
  }

  // A tensor name derived from an existing one; a clash with the model's own names is an error.
  std::string new_name(const std::string& name, const Node& n) {
    if (!used_names_.insert(name).second)
      throw Error(n.describe() + ": the exported model needs the name '" + name + "', which the network already uses");
    return name;
  }

  std::string add_initializer(const std::string& name, const Tensor& t, const Node& n) {
    *out_.add_initializer() = tensor_to_proto(new_name(name, n), t);
    return name;
  }

  void add_node(const std::string& op_type, std::vector<std::string> inputs, const std::string& output,
                std::map<std::string, Attribute> attributes = {}) {
    // Added nodes are named after the tensor they write, which is unique.
    *out_.add_node() = node_to_proto(Node{output, op_type, "", std::move(inputs), {output}, std::move(attributes)});
  }

  // DequantizeLinear(q) -> `name`, zero point 0; per tensor, or per slice along `axis`.
  std::string dequantize(const std::string& q, const Tensor& scale, DType dtype, std::optional<int64_t> axis,
                         const std::string& name, const Node& n) {
    const std::string scale_name = add_initializer(name + "/scale", scale, n);
    const std::string zero_name = add_initializer(name + "/zero_point", Tensor(dtype, scale.shape()), n);
    std::map<std::string, Attribute> attributes;
    if (axis) attributes["axis"] = *axis;
    add_node("DequantizeLinear", {q, scale_name, zero_name}, new_name(name, n), std::move(attributes));
    return name;
  }

  // An INT8 activation input, dequantized for this node alone.
  std::string dequantize_input(const Node& n, size_t index, const char* role, float scale) {
    return dequantize(n.inputs[index], scalar(DType::kFloat32, scale), DType::kInt8, std::nullopt,
                      n.outputs[0] + "::" + role + "_dq", n);
  }

  // Per-channel weights are dequantized once, however many nodes read them.
  std::string dequantize_weight(const Node& n, int64_t channel_axis) {
    const std::string& w = n.inputs[1];
    if (auto it = dequantized_weights_.find(w); it != dequantized_weights_.end()) return it->second;
    return dequantized_weights_[w] =
               dequantize(w, floats(n.attr_floats("w_scales")), DType::kInt8, channel_axis, w + "::dq", n);
  }

  // The int32 bias has scale x_scale * w_scales[m], computed as the kernels do (docs/int8_kernels.md).
  std::optional<std::string> dequantize_bias(const Node& n) {
    if (n.inputs.size() < 3 || n.inputs[2].empty()) return std::nullopt;
    const double x_scale = n.attr_float("x_scale", 0);
    std::vector<float> scales = n.attr_floats("w_scales");
    for (float& s : scales) s = static_cast<float>(x_scale * s);
    return dequantize(n.inputs[2], floats(scales), DType::kInt32, 0, n.outputs[0] + "::bias_dq", n);
  }

  // Writes the FP32 op (`op_type` over `inputs`) and what follows it: the fused
  // activation, then QuantizeLinear for an int8 output. Whichever comes last
  // writes the node's own output name.
  void write_compute(const Node& n, const std::string& op_type, std::vector<std::string> inputs,
                     std::map<std::string, Attribute> attributes = {},
                     std::optional<std::string> bias = std::nullopt) {
    const std::string& out = n.outputs[0];
    const std::string dtype = n.attr_string("output_dtype", "int8");
    const std::string activation = n.attr_string("activation", "none");
    if (dtype != "int8" && dtype != "float32") throw Error(n.describe() + ": unknown output_dtype '" + dtype + "'");
    if (activation != "none" && activation != "relu" && activation != "clip")
      throw Error(n.describe() + ": activation '" + activation + "' has no ONNX form");
    int steps_left = 1 + bias.has_value() + (activation != "none") + (dtype == "int8");
    auto step_output = [&](const std::string& suffix) { return --steps_left == 0 ? out : new_name(out + "::" + suffix, n); };

    std::string y = step_output(op_type);
    *out_.add_node() = node_to_proto(Node{n.name, op_type, "", std::move(inputs), {y}, std::move(attributes)});
    if (bias) {
      const std::string biased = step_output("bias_add");
      add_node("Add", {y, *bias}, biased);
      y = biased;
    }
    if (activation == "relu") {
      const std::string relu = step_output("relu");
      add_node("Relu", {y}, relu);
      y = relu;
    } else if (activation == "clip") {
      const float inf = std::numeric_limits<float>::infinity();
      const std::string lo = add_initializer(out + "::clip_min", scalar(DType::kFloat32, n.attr_float("clip_min", -inf)), n);
      const std::string hi = add_initializer(out + "::clip_max", scalar(DType::kFloat32, n.attr_float("clip_max", inf)), n);
      const std::string clip = step_output("clip");
      add_node("Clip", {y, lo, hi}, clip);
      y = clip;
    }
    if (dtype == "int8") {
      const std::string scale = add_initializer(out + "::y_scale", scalar(DType::kFloat32, n.attr_float("y_scale", 0)), n);
      const std::string zero = add_initializer(out + "::y_zero_point", scalar(DType::kInt8, 0), n);
      add_node("QuantizeLinear", {y, scale, zero}, step_output("quantize"));
    }
  }

  void write_int8_conv(const Node& n) {
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) return write_int8_conv_with_residual(n);
    std::vector<std::string> inputs = {dequantize_input(n, 0, "x", n.attr_float("x_scale", 0)), dequantize_weight(n, 0)};
    if (auto bias = dequantize_bias(n)) inputs.push_back(*bias);
    std::map<std::string, Attribute> attributes;
    for (const char* key : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
      if (n.has_attr(key)) attributes[key] = n.attributes.at(key);
    write_compute(n, "Conv", std::move(inputs), std::move(attributes));
  }

  // W is K x N: the channel (output column) is axis 1; the bias is added after the MatMul.
  void write_int8_matmul(const Node& n) {
    write_compute(n, "MatMul", {dequantize_input(n, 0, "x", n.attr_float("x_scale", 0)), dequantize_weight(n, 1)}, {},
                  dequantize_bias(n));
  }

  // A fused residual (input Z, GPU engines; docs/int8_kernels.md step 4): the
  // convolution into its own int8 value, then the Int8Add of that and Z.
  void write_int8_conv_with_residual(const Node& n) {
    const std::string prefix = "sum_";
    Node conv = n, add = n;
    conv.name = n.name + " (convolution)";
    conv.inputs.resize(3);
    conv.outputs = {new_name(n.outputs[0] + "::conv", n)};
    add.op_type = "Int8Add";
    add.inputs = {conv.outputs[0], n.inputs[3]};
    add.attributes.clear();
    for (const auto& [key, value] : n.attributes) {
      if (key.rfind(prefix, 0) != 0) continue;
      conv.attributes.erase(key);
      add.attributes[key.substr(prefix.size())] = value;
    }
    write_int8_conv(conv);
    write_int8_add(add);
  }

  void write_int8_add(const Node& n) {
    write_compute(n, "Add",
                  {dequantize_input(n, 0, "a", n.attr_float("a_scale", 0)),
                   dequantize_input(n, 1, "b", n.attr_float("b_scale", 0))});
  }

  onnx::GraphProto& out_;
  std::set<std::string> used_names_;
  std::map<std::string, std::string> dequantized_weights_;
  std::map<std::string, std::string> channels_first_;  // NHWC activation -> its NCHW form
};

// The checker's structural checks, plus strict shape inference: types that do
// not fit an op (e.g. a zero point unlike its input) are errors, not warnings.
void validate(const onnx::ModelProto& model) {
  onnx::checker::check_model(model);
  onnx::ModelProto inferred = model;
  onnx::ShapeInferenceOptions strict{/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false};
  onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(), strict);
}

}  // namespace

void export_qdq_onnx(const Engine& engine, const std::string& path) {
  const Graph& g = engine.graph();
  onnx::ModelProto model;
  model.set_producer_name("octet");
  model.set_producer_version(OCTET_VERSION);
  for (const auto& [domain, version] : g.opsets) {
    if (domain == "octet") continue;
    auto* opset = model.add_opset_import();
    opset->set_domain(domain);
    opset->set_version(version);
  }
  onnx::GraphProto& out = *model.mutable_graph();
  out.set_name(g.name);
  for (const auto& v : g.inputs) *out.add_input() = value_info_to_proto(v);
  for (const auto& v : g.outputs) *out.add_output() = value_info_to_proto(v);
  // Intermediate types are left to shape inference: the new tensors have none recorded.
  for (const auto& [name, t] : g.initializers) *out.add_initializer() = tensor_to_proto(name, t);
  QdqGraphWriter writer(g, out);
  for (const auto& n : g.nodes) writer.write(n);

  try {
    // Below opset 13, ONNX's converter rewrites the layers written as they are
    // (e.g. Squeeze's axes attribute becomes an input) so that they keep their meaning.
    model.set_ir_version(kIrVersion);
    if (g.opset() < kMinOpset) {
      model = onnx::version_conversion::ConvertVersion(model, kMinOpset);
      model.set_ir_version(kIrVersion);
    }
    validate(model);
  } catch (const std::exception& e) {
    throw Error(path + ": cannot export the engine as a QDQ ONNX model: " + e.what());
  }
  write_file_atomically(path, model.SerializeAsString());
}

}  // namespace octet
