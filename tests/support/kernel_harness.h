// Runs one node through a registered kernel, for small hand-checkable op tests.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "octet/kernel.h"

namespace octet::testing {

template <class T>
Tensor make_tensor(DType dtype, Shape shape, const std::vector<T>& values) {
  Tensor t(dtype, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel()) << "test data size";
  for (size_t i = 0; i < values.size(); ++i) t.set_from_double(i, static_cast<double>(values[i]));
  return t;
}
inline Tensor f32(Shape shape, const std::vector<float>& v) { return make_tensor(DType::kFloat32, std::move(shape), v); }
inline Tensor i8(Shape shape, const std::vector<int>& v) { return make_tensor(DType::kInt8, std::move(shape), v); }
inline Tensor i32(Shape shape, const std::vector<int>& v) { return make_tensor(DType::kInt32, std::move(shape), v); }
// Copied exactly: values beyond 2^53 (INT64_MAX in Slice ends) must not pass through double.
inline Tensor i64(Shape shape, const std::vector<int64_t>& v) {
  Tensor t(DType::kInt64, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(v.size()), t.numel()) << "test data size";
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

// Runs `node` (inputs: nullptr entries mark omitted optional inputs) at `opset`
// on `backend`, prepared for `graph`, and returns its outputs. Kernels that read
// constant inputs (weights) when they are prepared find them in
// graph.initializers, under the node's input names.
inline std::vector<Tensor> run_node(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset,
                                    const std::string& backend, const Graph& graph) {
  const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, opset, backend);
  if (!def) throw Error("no " + backend + " kernel for " + node.op_type + " at opset " + std::to_string(opset));
  KernelContext ctx{node, opset, inputs, std::vector<Tensor>(node.outputs.size())};
  const auto kernel = def->bind(node, graph);
  if (!kernel) throw Error(backend + " kernel for " + node.op_type + " declined the node");
  kernel->run(ctx);
  return std::move(ctx.outputs);
}

// As above, prepared for an empty graph, on the reference backend by default.
inline std::vector<Tensor> run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                                    int64_t opset = 17, const std::string& backend = "reference") {
  return run_node(node, inputs, opset, backend, Graph{});
}

// The only output of a single-output node.
inline Tensor run_one_output(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17) {
  return run_node(node, inputs, opset).at(0);
}

// The message of the error E that running `node` must raise; a test failure when it runs cleanly.
template <class E = Error>
std::string failure(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17) {
  try {
    run_node(node, inputs, opset);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected " << node.op_type << " to fail";
  return "";
}

inline Node make_node(const std::string& op_type, size_t n_inputs, size_t n_outputs = 1,
                      std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = "test_" + op_type;
  n.op_type = op_type;
  for (size_t i = 0; i < n_inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < n_outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  n.attributes = std::move(attrs);
  return n;
}

inline void expect_values(const Tensor& t, Shape shape, const std::vector<double>& expected,
                          double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(t.get_as_double(i), expected[i], tol * std::max(1.0, std::abs(expected[i]))) << "element " << i;
}

// An octet INT8 node (domain "octet") with unit x/y scales and `channels` unit
// weight scales unless `attrs` sets them.
inline Node unit_scale_int8_node(const std::string& op_type, std::map<std::string, Attribute> attrs,
                                 size_t channels, size_t n_inputs) {
  attrs.emplace("x_scale", 1.0f);
  attrs.emplace("w_scales", std::vector<float>(channels, 1.0f));
  attrs.emplace("y_scale", 1.0f);
  Node n = make_node(op_type, n_inputs, 1, std::move(attrs));
  n.domain = "octet";
  return n;
}

}  // namespace octet::testing
