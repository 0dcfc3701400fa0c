// Hand-built graphs, random inputs and output comparison for the graph pass tests.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "octet/executor.h"
#include "octet/graph.h"
#include "octet/onnx_importer.h"

namespace octet::pass_testing {

// A float32 value with known dims; -1 makes a dim the symbolic "batch".
inline ValueInfo float_value(const std::string& name, const Shape& dims) {
  ValueInfo v{name, DType::kFloat32, {}, true};
  for (int64_t d : dims) v.dims.push_back(d < 0 ? Dim{-1, "batch"} : Dim{d, ""});
  return v;
}

inline Node make_node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                      std::map<std::string, Attribute> attributes = {}) {
  Node n;
  n.name = op + "(" + outputs.at(0) + ")";
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attributes);
  return n;
}

// Uniform in [lo, hi), reproducible from `seed`.
inline Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kFloat32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

inline Tensor int64_tensor(const Shape& shape, const std::vector<int64_t>& values) {
  Tensor t(DType::kInt64, shape);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

inline Tensor scalar(float v) {
  Tensor t(DType::kFloat32, {});
  t.data<float>()[0] = v;
  return t;
}

// A graph at ai.onnx opset 17 (nodes given in topological order).
inline Graph make_graph(std::vector<ValueInfo> inputs, std::vector<ValueInfo> outputs, std::vector<Node> nodes,
                        std::map<std::string, Tensor> initializers = {}) {
  Graph g;
  g.name = "test";
  g.inputs = std::move(inputs);
  g.outputs = std::move(outputs);
  g.nodes = std::move(nodes);
  g.initializers = std::move(initializers);
  g.opsets[""] = 17;
  return g;
}

inline Graph sample_model(const std::string& name) {
  return import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/" + name + ".onnx");
}

inline size_t count_ops(const Graph& g, const std::string& op_type) {
  return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op_type; });
}

inline const Node* find_op(const Graph& g, const std::string& op_type) {
  for (const auto& n : g.nodes)
    if (n.op_type == op_type) return &n;
  return nullptr;
}

// Random values for every graph input, symbolic dims taking `batch`.
inline TensorMap random_inputs(const Graph& g, int64_t batch = 2, uint32_t seed = 1) {
  TensorMap inputs;
  for (const auto& v : g.inputs) {
    Shape shape;
    for (const Dim& d : v.dims) shape.push_back(d.known() ? d.value : batch);
    inputs[v.name] = random_tensor(shape, seed++);
  }
  return inputs;
}

// How far `got` is from `want` (same shape), elementwise.
struct Difference {
  double largest = 0;       // the expected values' largest magnitude
  double worst = 0;         // the largest difference; infinite where one is NaN
  int64_t worst_index = 0;  // where it is
  // Every element within `relative` x the largest magnitude (at least `floor`).
  bool within(double relative, double floor) const { return worst <= relative * std::max(largest, floor); }
};

inline Difference difference(const Tensor& want, const Tensor& got) {
  Difference d;
  for (int64_t i = 0; i < want.numel(); ++i) {
    d.largest = std::max(d.largest, std::abs(want.get_as_double(i)));
    double diff = std::abs(want.get_as_double(i) - got.get_as_double(i));
    if (std::isnan(diff)) diff = INFINITY;
    if (diff > d.worst) d.worst = diff, d.worst_index = i;
  }
  return d;
}

// Runs both graphs on the same inputs: the same outputs, by name, each element
// within `tolerance` of the original's relative to that output's largest magnitude.
inline void expect_same_outputs(const Graph& original, const Graph& optimized, const TensorMap& inputs,
                                double tolerance = 1e-5) {
  const TensorMap want = Executor(original).run(inputs);
  const TensorMap got = Executor(optimized).run(inputs);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, expected] : want) {
    ASSERT_TRUE(got.count(name)) << "output " << name << " is missing";
    const Tensor& actual = got.at(name);
    ASSERT_EQ(actual.shape(), expected.shape()) << name;
    const Difference d = difference(expected, actual);
    ASSERT_TRUE(d.within(tolerance, 1e-30)) << name << " element " << d.worst_index << " off by " << d.worst
                                            << " (largest |value| " << d.largest << ")";
  }
}

}  // namespace octet::pass_testing
