// FP16 GPU engines (BuilderConfig::fp16 with --device cuda, TensorRT's --fp16): the
// network computes in half precision between a Cast to float16 after each float32
// graph input and a Cast back before each float32 graph output; the float32
// constants that layers read as weights, biases or operands become float16, so an
// FP16 plan's weights take half the bytes. The CUDA float kernels take their
// arithmetic type from their weights (src/kernels/cuda/float_kernels.cpp).
#include <set>
#include <string>
#include <vector>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {
namespace {

Node cast_node(const std::string& from, const std::string& to, DType type) {
  Node n;
  n.name = to + "/cast";
  n.op_type = "Cast";
  n.inputs = {from};
  n.outputs = {to};
  n.attributes["to"] = static_cast<int64_t>(type);  // DType values are ONNX's TensorProto codes
  return n;
}

Tensor to_float16(const Tensor& t) {
  Tensor half = Tensor::uninitialized(DType::kFloat16, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) half.set_from_double(i, t.get_as_double(i));
  return half;
}

// Layers whose float constant inputs are weights, biases or operands in the
// computation's type (not Clip: its bounds are read, in float, when kernels are prepared).
bool reads_values_in_compute_type(const Node& n) {
  static const std::set<std::string> onnx = {"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div"};
  return (n.domain.empty() && onnx.count(n.op_type)) || (n.domain == "octet" && n.op_type == "FusedConv");
}

}  // namespace

int convert_to_float16(Graph& g) {
  std::vector<Node> casts_in, casts_out;
  for (const ValueInfo& in : g.inputs) {
    if (in.dtype != DType::kFloat32) continue;
    const std::string half = graph_edit::unused_name(g, in.name + "/fp16");
    for (Node& n : g.nodes)
      for (std::string& name : n.inputs)
        if (name == in.name) name = half;
    casts_in.push_back(cast_node(in.name, half, DType::kFloat16));
    ValueInfo v = in;
    v.name = half;
    v.dtype = DType::kFloat16;
    g.value_info[half] = v;
  }
  for (const ValueInfo& out : g.outputs) {
    if (out.dtype != DType::kFloat32) continue;
    const std::string half = graph_edit::unused_name(g, out.name + "/fp16");
    graph_edit::rename_value(g, out.name, half);
    casts_out.push_back(cast_node(half, out.name, DType::kFloat32));
    ValueInfo v = out;
    v.name = half;
    v.dtype = DType::kFloat16;
    g.value_info[half] = v;
  }
  const graph_edit::Readers readers = graph_edit::readers_of_values(g);
  for (auto& [name, t] : g.initializers) {
    if (t.dtype() != DType::kFloat32 || graph_edit::is_graph_output(g, name)) continue;
    auto read = readers.find(name);
    bool convertible = read != readers.end();
    if (convertible)
      for (size_t node : read->second) convertible &= reads_values_in_compute_type(g.nodes[node]);
    if (convertible) t = to_float16(t);
  }
  for (auto& [name, v] : g.value_info)
    if (v.dtype == DType::kFloat32 && !graph_edit::is_graph_input(g, name) && !graph_edit::is_graph_output(g, name))
      v.dtype = DType::kFloat16;
  const int count = static_cast<int>(casts_in.size() + casts_out.size());
  g.nodes.insert(g.nodes.begin(), casts_in.begin(), casts_in.end());
  g.nodes.insert(g.nodes.end(), casts_out.begin(), casts_out.end());
  return count;
}

}  // namespace octet
