#include <gtest/gtest.h>

#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

// BatchNormalization parameters over `channels`, named prefix/scale etc., with var > 0.
std::map<std::string, Tensor> bn_parameters(int64_t channels, uint32_t seed) {
  return {{"bn/scale", random_tensor({channels}, seed, 0.5f, 2.f)},
          {"bn/bias", random_tensor({channels}, seed + 1)},
          {"bn/mean", random_tensor({channels}, seed + 2)},
          {"bn/var", random_tensor({channels}, seed + 3, 0.1f, 3.f)}};
}

Node batchnorm(const std::string& x, const std::string& y) {
  return make_node("BatchNormalization", {x, "bn/scale", "bn/bias", "bn/mean", "bn/var"}, {y},
                   {{"epsilon", 1e-3f}});
}

// x [2, 4, 7, 7] -> Conv (3x3, pads 1, `group`) -> BatchNormalization -> y, plus `extra` nodes.
Graph conv_bn(int64_t group, bool with_bias, std::vector<Node> extra = {}, std::vector<ValueInfo> extra_outputs = {}) {
  std::map<std::string, Tensor> inits = bn_parameters(6, 11);
  inits["w"] = random_tensor({6, 4 / group, 3, 3}, 3);
  std::vector<std::string> conv_inputs = {"x", "w"};
  if (with_bias) {
    inits["b"] = random_tensor({6}, 4);
    conv_inputs.push_back("b");
  }
  std::vector<Node> nodes = {make_node("Conv", conv_inputs, {"conv"},
                                       {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", group}}),
                             batchnorm("conv", "y")};
  nodes.insert(nodes.end(), extra.begin(), extra.end());
  std::vector<ValueInfo> outputs = {float_value("y", {2, 6, 7, 7})};
  outputs.insert(outputs.end(), extra_outputs.begin(), extra_outputs.end());
  return make_graph({float_value("x", {2, 4, 7, 7})}, outputs, nodes, inits);
}

}  // namespace

TEST(BatchNormFolding, FoldsIntoConvWithBias) {
  const Graph original = conv_bn(1, true);
  Graph g = original;
  EXPECT_EQ(fold_batch_normalization(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});  // the BN's output name
  EXPECT_NE(g.nodes[0].inputs[1], "w") << "a new weight: the original may be shared";
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(BatchNormFolding, FoldsIntoDepthwiseConvWithoutBias) {
  const Graph original = conv_bn(2, false);
  Graph g = original;
  EXPECT_EQ(fold_batch_normalization(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  ASSERT_EQ(g.nodes[0].inputs.size(), 3u) << "the folded BN gives the Conv a bias";
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(BatchNormFolding, FoldsIntoGemmWithConstantB) {
  for (int64_t trans_b : {0, 1}) {
    std::map<std::string, Tensor> inits = bn_parameters(5, 21);
    inits["w"] = random_tensor(trans_b ? Shape{5, 8} : Shape{8, 5}, 5);
    inits["c"] = random_tensor({5}, 6);
    const Graph original = make_graph(
        {float_value("x", {3, 8})}, {float_value("y", {3, 5})},
        {make_node("Gemm", {"x", "w", "c"}, {"gemm"}, {{"transB", trans_b}, {"alpha", 0.7f}, {"beta", 0.5f}}),
         batchnorm("gemm", "y")},
        inits);
    Graph g = original;
    EXPECT_EQ(fold_batch_normalization(g), 1) << "transB " << trans_b;
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].attr_float("beta", 0.f), 1.f);
    expect_same_outputs(original, g, random_inputs(original));
  }
}

TEST(BatchNormFolding, StaysWhenTheConvOutputHasAnotherReader) {
  Graph g = conv_bn(1, true, {make_node("Relu", {"conv"}, {"r"})}, {float_value("r", {2, 6, 7, 7})});
  EXPECT_EQ(fold_batch_normalization(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(BatchNormFolding, StaysWhenTheConvOutputIsAGraphOutput) {
  Graph g = conv_bn(1, true, {}, {float_value("conv", {2, 6, 7, 7})});
  EXPECT_EQ(fold_batch_normalization(g), 0);
}

TEST(BatchNormFolding, StaysAfterAProducerItCannotFoldInto) {
  Graph g = make_graph({float_value("x", {2, 6, 7, 7})}, {float_value("y", {2, 6, 7, 7})},
                       {make_node("Relu", {"x"}, {"r"}), batchnorm("r", "y")}, bn_parameters(6, 31));
  EXPECT_EQ(fold_batch_normalization(g), 0);
  Graph on_input = make_graph({float_value("x", {2, 6, 7, 7})}, {float_value("y", {2, 6, 7, 7})},
                              {batchnorm("x", "y")}, bn_parameters(6, 31));
  EXPECT_EQ(fold_batch_normalization(on_input), 0);
}

TEST(BatchNormFolding, StaysWhenTheWeightIsComputed) {
  // Conv's weight is a graph input: nothing to fold into.
  std::map<std::string, Tensor> inits = bn_parameters(6, 41);
  Graph g = make_graph({float_value("x", {2, 4, 7, 7}), float_value("w", {6, 4, 3, 3})},
                       {float_value("y", {2, 6, 5, 5})},
                       {make_node("Conv", {"x", "w"}, {"conv"}), batchnorm("conv", "y")}, inits);
  EXPECT_EQ(fold_batch_normalization(g), 0);
}
