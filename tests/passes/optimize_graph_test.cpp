#include <gtest/gtest.h>

#include "octet/builder.h"
#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

PassOptions int8_build() {
  PassOptions o;
  o.fuse_fp32_activations = false;
  return o;
}

struct SampleModel {
  std::string name;
  size_t nodes_before, nodes_after_fp32;  // imported (Constant nodes already initializers), optimised
  size_t fused_activations, fused_residual_adds;
};

void PrintTo(const SampleModel& m, std::ostream* os) { *os << m.name; }

class SampleModels : public ::testing::TestWithParam<SampleModel> {};

}  // namespace

// lenet: 2 Conv+Relu+MaxPool fused (its Gemm+Relu stay); resnet: 4 Conv+Relu, 3 Conv+Add+Relu;
// mobilenetv2: 11 Conv+Clip(0, 6) (ReLU6), 3 Conv+Add (the inverted residuals).
INSTANTIATE_TEST_SUITE_P(Passes, SampleModels,
                         ::testing::Values(SampleModel{"lenet", 12, 8, 2, 0}, SampleModel{"resnet", 22, 12, 7, 3},
                                           SampleModel{"mobilenetv2", 33, 19, 11, 3}),
                         [](const auto& info) { return info.param.name; });

TEST_P(SampleModels, Fp32OptimisedGraphComputesTheSameOutputs) {
  const SampleModel& m = GetParam();
  const Graph original = sample_model(m.name);
  ASSERT_EQ(original.nodes.size(), m.nodes_before);
  Graph g = original;
  const PassStats stats = optimize_graph(g);
  EXPECT_EQ(stats.nodes_before, m.nodes_before);
  EXPECT_EQ(stats.nodes_after, m.nodes_after_fp32) << stats.summary();
  EXPECT_EQ(stats.fused.activations, static_cast<int>(m.fused_activations)) << stats.summary();
  EXPECT_EQ(stats.fused.residual_adds, static_cast<int>(m.fused_residual_adds)) << stats.summary();
  EXPECT_EQ(g.outputs[0].name, original.outputs[0].name);
  expect_same_outputs(original, g, random_inputs(original, 3));
  // A fixed point: a second run finds nothing.
  EXPECT_FALSE(optimize_graph(g).changed());
}

TEST_P(SampleModels, Int8BuildsKeepConvAndActivationsForTheQuantizer) {
  const Graph original = sample_model(GetParam().name);
  Graph g = original;
  const PassStats stats = optimize_graph(g, int8_build());
  EXPECT_FALSE(stats.changed()) << stats.summary();
  EXPECT_EQ(count_ops(g, "FusedConv"), 0u);
  EXPECT_EQ(g.fingerprint(), original.fingerprint());
}

TEST(OptimizeGraph, PassesEnableEachOther) {
  // x -> Conv -> Identity -> BN -> Clip(0, 3 + 3) -> y, plus a dead reader of the Conv output.
  std::map<std::string, Tensor> inits = {{"w", random_tensor({4, 3, 3, 3}, 1)},
                                         {"bn/scale", random_tensor({4}, 2, 0.5f, 2.f)},
                                         {"bn/bias", random_tensor({4}, 3)},
                                         {"bn/mean", random_tensor({4}, 4)},
                                         {"bn/var", random_tensor({4}, 5, 0.1f, 2.f)},
                                         {"zero", scalar(0.f)},
                                         {"three", scalar(3.f)}};
  const Graph original = make_graph(
      {float_value("x", {2, 3, 8, 8})}, {float_value("y", {2, 4, 6, 6})},
      {make_node("Conv", {"x", "w"}, {"conv"}), make_node("Sigmoid", {"conv"}, {"unused"}),
       make_node("Identity", {"conv"}, {"conv_copy"}),
       make_node("BatchNormalization", {"conv_copy", "bn/scale", "bn/bias", "bn/mean", "bn/var"}, {"bn"}),
       make_node("Add", {"three", "three"}, {"upper"}), make_node("Clip", {"bn", "zero", "upper"}, {"y"})},
      inits);
  Graph g = original;
  const PassStats stats = optimize_graph(g);
  ASSERT_EQ(g.nodes.size(), 1u) << stats.summary();
  EXPECT_EQ(g.nodes[0].op_type, "FusedConv");
  EXPECT_EQ(g.nodes[0].attr_float("clip_max", 0.f), 6.f);
  EXPECT_EQ(stats.summary(),
            "graph passes: 6 -> 1 nodes (folded 1 constant nodes, folded 1 BatchNorm, removed 1 Identity, "
            "fused 1 activations, removed 1 dead nodes, removed 8 unused initializers)");
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(OptimizeGraph, BuilderOptimisesFp32EnginesAndKeepsTheImportedFingerprint) {
  const Graph network = sample_model("resnet");
  std::vector<std::string> log;
  BuilderConfig config;
  config.select_kernels = false;
  config.log = [&](const std::string& line) { log.push_back(line); };
  const Engine engine = build_engine(network, config);
  EXPECT_EQ(engine.info().network_fingerprint, network.fingerprint());
  EXPECT_EQ(engine.graph().nodes.size(), 12u + 2);  // + the layout pass's two Transposes
  EXPECT_EQ(count_ops(engine.graph(), "FusedConv"), 7u);
  EXPECT_EQ(count_ops(engine.graph(), "Transpose"), 2u);
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].rfind("graph passes: 22 -> 12 nodes", 0), 0u) << log[0];
}
