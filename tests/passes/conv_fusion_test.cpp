#include <gtest/gtest.h>

#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

// x [2, 3, 8, 8] -> Conv (4 channels, 3x3, pads 1) -> `after` nodes; the Conv writes "conv".
Graph conv_then(std::vector<Node> after, std::vector<ValueInfo> outputs, std::map<std::string, Tensor> inits = {},
                std::vector<ValueInfo> extra_inputs = {}) {
  inits["w"] = random_tensor({4, 3, 3, 3}, 1);
  inits["b"] = random_tensor({4}, 2);
  std::vector<Node> nodes = {make_node("Conv", {"x", "w", "b"}, {"conv"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})};
  nodes.insert(nodes.end(), after.begin(), after.end());
  std::vector<ValueInfo> inputs = {float_value("x", {-1, 3, 8, 8})};
  inputs.insert(inputs.end(), extra_inputs.begin(), extra_inputs.end());
  Graph g = make_graph(inputs, outputs, nodes, inits);
  g.value_info["conv"] = float_value("conv", {-1, 4, 8, 8});
  return g;
}

const ValueInfo kY = float_value("y", {-1, 4, 8, 8});

}  // namespace

TEST(ConvFusion, EachActivationBecomesOneFusedConv) {
  struct Case {
    Node activation;
    std::map<std::string, Tensor> inits;
    std::string fused;
  };
  const std::vector<Case> cases = {
      {make_node("Relu", {"conv"}, {"y"}), {}, "relu"},
      {make_node("Clip", {"conv", "lo", "hi"}, {"y"}), {{"lo", scalar(0.f)}, {"hi", scalar(6.f)}}, "clip"},
      {make_node("Clip", {"conv", "", "hi"}, {"y"}), {{"hi", scalar(0.5f)}}, "clip"},
      {make_node("LeakyRelu", {"conv"}, {"y"}, {{"alpha", 0.2f}}), {}, "leaky_relu"},
      {make_node("Sigmoid", {"conv"}, {"y"}), {}, "sigmoid"},
      {make_node("HardSwish", {"conv"}, {"y"}), {}, "hard_swish"},
  };
  for (const auto& c : cases) {
    const Graph original = conv_then({c.activation}, {kY}, c.inits);
    Graph g = original;
    const ConvFusionCounts counts = fuse_conv_activations(g);
    EXPECT_EQ(counts.activations, 1) << c.fused;
    EXPECT_EQ(counts.residual_adds, 0);
    ASSERT_EQ(g.nodes.size(), 1u) << c.fused;
    const Node& f = g.nodes[0];
    EXPECT_EQ(f.op_type, "FusedConv");
    EXPECT_EQ(f.domain, "octet");
    EXPECT_EQ(g.opset("octet"), 1);
    EXPECT_EQ(f.attr_string("activation", ""), c.fused);
    EXPECT_EQ(f.outputs, std::vector<std::string>{"y"});
    EXPECT_EQ(f.inputs, (std::vector<std::string>{"x", "w", "b"}));
    EXPECT_EQ(f.attr_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1})) << "Conv's attributes are kept";
    expect_same_outputs(original, g, random_inputs(original), 0.0);
  }
}

TEST(ConvFusion, ClipBoundsAndLeakyReluSlopeAreCarried) {
  Graph g = conv_then({make_node("Clip", {"conv", "lo", "hi"}, {"y"})}, {kY}, {{"lo", scalar(-1.f)}, {"hi", scalar(6.f)}});
  fuse_conv_activations(g);
  EXPECT_EQ(g.nodes[0].attr_float("clip_min", 0.f), -1.f);
  EXPECT_EQ(g.nodes[0].attr_float("clip_max", 0.f), 6.f);
  Graph leaky = conv_then({make_node("LeakyRelu", {"conv"}, {"y"}, {{"alpha", 0.2f}})}, {kY});
  fuse_conv_activations(leaky);
  EXPECT_EQ(leaky.nodes[0].attr_float("alpha", 0.f), 0.2f);
}

TEST(ConvFusion, ResidualAddThenReluBecomesOneFusedConv) {
  // y = Relu(z + Conv(x)), the Add reading the Conv second.
  const Graph original = conv_then({make_node("Add", {"z", "conv"}, {"sum"}), make_node("Relu", {"sum"}, {"y"})},
                                   {kY}, {}, {float_value("z", {-1, 4, 8, 8})});
  Graph g = original;
  const ConvFusionCounts counts = fuse_conv_activations(g);
  EXPECT_EQ(counts.residual_adds, 1);
  EXPECT_EQ(counts.activations, 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"x", "w", "b", "z"}));
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "relu");
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ConvFusion, ResidualAddWithoutActivation) {
  Graph original = conv_then({make_node("Relu", {"x2"}, {"z"}), make_node("Add", {"conv", "z"}, {"y"})}, {kY}, {},
                             {float_value("x2", {-1, 4, 8, 8})});
  original.value_info["z"] = float_value("z", {-1, 4, 8, 8});
  Graph g = original;
  EXPECT_EQ(fuse_conv_activations(g).residual_adds, 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].attr_string("activation", ""), "none");
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ConvFusion, BroadcastingAddIsNotAResidual) {
  // z [1, 4, 1, 1] broadcasts, so the Add is no residual; the Relu then follows an Add, not the Conv.
  Graph g = conv_then({make_node("Add", {"conv", "z"}, {"sum"}), make_node("Relu", {"sum"}, {"y"})}, {kY},
                      {{"z", random_tensor({1, 4, 1, 1}, 3)}});
  EXPECT_EQ(fuse_conv_activations(g).residual_adds, 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(ConvFusion, ActivationAfterResidualUnknownShapeIsNotFused) {
  Graph g = conv_then({make_node("Add", {"conv", "z"}, {"sum"}), make_node("Relu", {"sum"}, {"y"})}, {kY}, {},
                      {ValueInfo{"z", DType::kFloat32, {}, false}});
  EXPECT_EQ(fuse_conv_activations(g).residual_adds, 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(ConvFusion, ConvOutputSeenElsewhereIsNotFused) {
  // Another reader, or the Conv output being a graph output, needs the pre-activation value.
  Graph two_readers = conv_then({make_node("Relu", {"conv"}, {"y"}), make_node("Sigmoid", {"conv"}, {"s"})},
                                {kY, float_value("s", {-1, 4, 8, 8})});
  EXPECT_EQ(fuse_conv_activations(two_readers).activations, 0);
  Graph output = conv_then({make_node("Relu", {"conv"}, {"y"})}, {kY, float_value("conv", {-1, 4, 8, 8})});
  EXPECT_EQ(fuse_conv_activations(output).activations, 0);
  EXPECT_EQ(output.nodes.size(), 2u);
}

TEST(ConvFusion, ClipWithComputedBoundsIsNotFused) {
  Graph g = conv_then({make_node("Clip", {"conv", "lo", "hi"}, {"y"})}, {kY}, {{"lo", scalar(0.f)}},
                      {ValueInfo{"hi", DType::kFloat32, {}, true}});
  EXPECT_EQ(fuse_conv_activations(g).activations, 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(ConvFusion, ActivationAfterAnotherActivationStaysSeparate) {
  const Graph original = conv_then({make_node("Relu", {"conv"}, {"r"}), make_node("Sigmoid", {"r"}, {"y"})}, {kY});
  Graph g = original;
  EXPECT_EQ(fuse_conv_activations(g).activations, 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].op_type, "Sigmoid");
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ConvFusion, MaxPoolAfterTheActivationIsAbsorbed) {
  const ValueInfo pooled = float_value("y", {-1, 4, 4, 4});
  const Graph original = conv_then({make_node("Relu", {"conv"}, {"r"}),
                                    make_node("MaxPool", {"r"}, {"y"},
                                              {{"kernel_shape", std::vector<int64_t>{2, 2}},
                                               {"strides", std::vector<int64_t>{2, 2}}})},
                                   {pooled});
  Graph g = original;
  g.value_info["r"] = float_value("r", {-1, 4, 8, 8});
  const ConvFusionCounts counts = fuse_conv_activations(g);
  EXPECT_EQ(counts.activations, 1);
  EXPECT_EQ(counts.max_pools, 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].attr_ints("pool_kernel_shape"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.nodes[0].attr_ints("pool_strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ConvFusion, MaxPoolDirectlyAfterTheConvOverlappingWindows) {
  const Graph original = conv_then({make_node("MaxPool", {"conv"}, {"y"},
                                              {{"kernel_shape", std::vector<int64_t>{3, 3}},
                                               {"strides", std::vector<int64_t>{2, 2}}})},
                                   {float_value("y", {-1, 4, 3, 3})});
  Graph g = original;
  EXPECT_EQ(fuse_conv_activations(g).max_pools, 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "none");
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ConvFusion, MaxPoolsTheKernelsDoNotFuseStaySeparate) {
  const std::vector<std::map<std::string, Attribute>> refused = {
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"dilations", std::vector<int64_t>{2, 2}}},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}},
  };
  for (const auto& attrs : refused) {
    Graph g = conv_then({make_node("MaxPool", {"conv"}, {"y"}, attrs)}, {kY});
    EXPECT_EQ(fuse_conv_activations(g).max_pools, 0);
    EXPECT_EQ(g.nodes.size(), 2u);
  }
  // With Indices, or after a residual Add (Z has the unpooled shape).
  Graph indices = conv_then({make_node("MaxPool", {"conv"}, {"y", "i"}, {{"kernel_shape", std::vector<int64_t>{2, 2}}})},
                            {kY, ValueInfo{"i", DType::kInt64}});
  EXPECT_EQ(fuse_conv_activations(indices).max_pools, 0);
  Graph residual = conv_then({make_node("Add", {"conv", "z"}, {"s"}),
                              make_node("MaxPool", {"s"}, {"y"}, {{"kernel_shape", std::vector<int64_t>{2, 2}}})},
                             {kY}, {}, {float_value("z", {-1, 4, 8, 8})});
  const ConvFusionCounts counts = fuse_conv_activations(residual);
  EXPECT_EQ(counts.residual_adds, 1);
  EXPECT_EQ(counts.max_pools, 0);
  EXPECT_EQ(residual.nodes.size(), 2u);
}
