// INT8 residual fusion for GPU engines:
//   C = Int8Conv(X, W, B) -> Y = Int8Add(C, Z)   =>   Y = Int8Conv(X, W, B, Z)
// with the Add's attributes under the prefix "sum_" (int8_kernels.h), so the CUDA
// GEMM adds Z in its epilogue instead of writing C and reading it back. Exact: the
// fused kernel still rounds C to int8 before the sum. Only when C is int8, read by
// this Add alone and no graph output, Z has C's shape, and the sum is int8.
#include "kernels/reference/int8/int8_kernels.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace octet {
namespace {

bool is_octet(const Node& n, const char* op) { return n.domain == int8::kDomain && n.op_type == op; }

bool int8_output(const Node& n, const std::string& prefix = "") {
  return n.attr_string(prefix + "output_dtype", "int8") == "int8";
}

}  // namespace

int fuse_int8_residual_adds(Graph& g) {
  const graph_edit::Readers readers = graph_edit::readers_of_values(g);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& out : g.nodes[i].outputs) producer[out] = i;
  std::vector<bool> absorbed(g.nodes.size(), false);
  int fused = 0;
  for (size_t a = 0; a < g.nodes.size(); ++a) {
    const Node& add = g.nodes[a];
    if (!is_octet(add, "Int8Add") || add.inputs.size() != 2 || !int8_output(add)) continue;
    for (size_t k = 0; k < 2; ++k) {
      const std::string& c = add.inputs[k];
      const std::string& z = add.inputs[1 - k];
      auto p = producer.find(c);
      if (p == producer.end() || absorbed[p->second]) continue;
      const Node& conv = g.nodes[p->second];
      if (!is_octet(conv, "Int8Conv") || node_has_input(conv, int8::kResidualInput) || !int8_output(conv)) continue;
      if (graph_edit::sole_reader(g, readers, c) != a || !graph_edit::same_shape(g, c, z)) continue;
      Node f = conv;
      f.name += " + " + add.name;
      f.inputs.resize(int8::kResidualInput);  // X, W, B ("" when absent)
      f.inputs.push_back(z);
      f.outputs = add.outputs;
      const std::string prefix = int8::kResidualPrefix;
      // C is the sum's first operand: its scale is sum_a_scale.
      f.attributes[prefix + "a_scale"] = add.attributes.at(k == 0 ? "a_scale" : "b_scale");
      f.attributes[prefix + "b_scale"] = add.attributes.at(k == 0 ? "b_scale" : "a_scale");
      for (const char* key : {"y_scale", "output_dtype", "activation", "clip_min", "clip_max"})
        if (add.has_attr(key)) f.attributes[prefix + key] = add.attributes.at(key);
      f.backend.clear();
      absorbed[p->second] = true;
      g.nodes[a] = std::move(f);  // at the Add's place: Z is computed before it
      ++fused;
      break;
    }
  }
  graph_edit::erase_nodes(g, absorbed);
  return fused;
}

}  // namespace octet
