#include <gtest/gtest.h>

#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

// y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): x flattened per batch row.
Graph shape_chain(const Shape& x_dims) {
  return make_graph({float_value("x", x_dims)}, {float_value("y", {})},
                    {make_node("Shape", {"x"}, {"shape"}),
                     make_node("Gather", {"shape", "zero"}, {"batch"}, {{"axis", int64_t{0}}}),
                     make_node("Unsqueeze", {"batch", "axes"}, {"batch_1d"}),
                     make_node("Concat", {"batch_1d", "minus_one"}, {"new_shape"}, {{"axis", int64_t{0}}}),
                     make_node("Reshape", {"x", "new_shape"}, {"y"})},
                    {{"zero", int64_tensor({}, {0})}, {"axes", int64_tensor({1}, {0})},
                     {"minus_one", int64_tensor({1}, {-1})}});
}

}  // namespace

TEST(ConstantFolding, StaticShapeChainBecomesReshapeOfConstant) {
  const Graph original = shape_chain({2, 3, 4, 5});
  Graph g = original;
  EXPECT_EQ(fold_constants(g), 4);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Reshape");
  EXPECT_EQ(g.initializers.at("new_shape").to_int64s(), (std::vector<int64_t>{2, -1}));
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(ConstantFolding, DynamicDimsKeepTheShapeChain) {
  Graph g = shape_chain({-1, 3, 4, 5});  // the batch dim is only known at run time
  EXPECT_EQ(fold_constants(g), 0);
  EXPECT_EQ(g.nodes.size(), 5u);
}

TEST(ConstantFolding, WeightPreprocessingIsFoldedNodesOnInputsStay) {
  // The Conv weight [3, 2, 3, 3] is stored transposed and halved; the Conv reads the graph input.
  const Graph original = make_graph(
      {float_value("x", {1, 2, 6, 6})}, {float_value("y", {1, 3, 4, 4})},
      {make_node("Transpose", {"w_stored"}, {"w_half"}, {{"perm", std::vector<int64_t>{1, 0, 2, 3}}}),
       make_node("Mul", {"w_half", "two"}, {"w"}), make_node("Conv", {"x", "w"}, {"y"})},
      {{"w_stored", random_tensor({2, 3, 3, 3}, 7)}, {"two", scalar(2.f)}});
  Graph g = original;
  EXPECT_EQ(fold_constants(g), 2);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  EXPECT_EQ(g.initializers.at("w").shape(), (Shape{3, 2, 3, 3}));
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(ConstantFolding, ConstantGraphOutputStaysAnOutput) {
  const Graph original = make_graph({float_value("x", {4})}, {float_value("y", {4}), float_value("sum", {})},
                                    {make_node("Relu", {"x"}, {"y"}), make_node("Add", {"a", "b"}, {"sum"})},
                                    {{"a", scalar(1.5f)}, {"b", scalar(2.f)}});
  Graph g = original;
  EXPECT_EQ(fold_constants(g), 1);
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.outputs[1].name, "sum");
  const TensorMap out = Executor(g).run(random_inputs(g));
  EXPECT_FLOAT_EQ(out.at("sum").data<float>()[0], 3.5f);
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(ConstantFolding, QuantizationAndRandomOpsAreNotFolded) {
  Tensor w(DType::kInt8, {4});
  Tensor zero_point(DType::kInt8, {});
  Graph g = make_graph({float_value("x", {4})}, {float_value("y", {4}), float_value("noise", {4})},
                       {make_node("DequantizeLinear", {"w", "scale", "zero_point"}, {"w_real"}),
                        make_node("Add", {"x", "w_real"}, {"y"}),
                        make_node("RandomUniform", {}, {"noise"}, {{"shape", std::vector<int64_t>{4}}})},
                       {{"w", w}, {"scale", scalar(0.1f)}, {"zero_point", zero_point}});
  EXPECT_EQ(fold_constants(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(ConstantFolding, NodeWithoutKernelIsLeftForTheRuntime) {
  Graph g = make_graph({float_value("x", {4})}, {float_value("y", {4})},
                       {make_node("NoSuchOp", {"c"}, {"d"}), make_node("Add", {"x", "d"}, {"y"})},
                       {{"c", scalar(1.f)}});
  EXPECT_EQ(fold_constants(g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}
