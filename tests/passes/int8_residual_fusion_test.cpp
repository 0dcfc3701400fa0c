// fuse_int8_residual_adds: Int8Conv -> Int8Add(·, Z) becomes one Int8Conv with the
// residual input Z, bit for bit the unfused network (the reference runs the fused
// node), and nothing else is fused.
#include <gtest/gtest.h>

#include "octet/executor.h"
#include "passes/pass_testing.h"
#include "passes/passes.h"
#include "support/sample_engines.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

// x (int8 [N, 4, 8, 8] channels-first) -> Int8Conv 1x1 -> "c"; Int8Add(c, z) -> "y".
Graph conv_add(const Shape& z_dims, const std::string& sum_dtype = "int8") {
  Tensor w(DType::kInt8, {4, 4, 1, 1});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(i % 7 - 3);
  Node conv = make_node("Int8Conv", {"x", "w"}, {"c"},
                        {{"x_scale", 0.5f}, {"w_scales", std::vector<float>(4, 0.25f)}, {"y_scale", 0.5f},
                         {"output_dtype", std::string("int8")}, {"activation", std::string("none")}});
  Node add = make_node("Int8Add", {"z", "c"}, {"y"},
                       {{"a_scale", 0.25f}, {"b_scale", 0.5f}, {"y_scale", 0.75f},
                        {"output_dtype", sum_dtype}, {"activation", std::string("relu")}});
  conv.domain = add.domain = "octet";
  ValueInfo x{"x", DType::kInt8, {}, true}, z{"z", DType::kInt8, {}, true}, y{"y", DType::kInt8, {}, true};
  for (int64_t d : Shape{-1, 4, 8, 8}) x.dims.push_back(d < 0 ? Dim{-1, "batch"} : Dim{d, ""});
  for (int64_t d : z_dims) z.dims.push_back(d < 0 ? Dim{-1, "batch"} : Dim{d, ""});
  y.dims = x.dims;
  Graph g = make_graph({x, z}, {y}, {conv, add}, {{"w", w}});
  g.opsets["octet"] = 1;
  g.value_info["c"] = ValueInfo{"c", DType::kInt8, x.dims, true};
  return g;
}

Tensor int8_noise(const Shape& shape, uint32_t seed) {
  Tensor t(DType::kInt8, shape);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 127);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  return t;
}

}  // namespace

TEST(Int8ResidualFusion, ConvThenAddBecomesOneConvWithTheSumsAttributes) {
  const Graph original = conv_add({-1, 4, 8, 8});
  Graph g = original;
  ASSERT_EQ(fuse_int8_residual_adds(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  const Node& f = g.nodes[0];
  EXPECT_EQ(f.op_type, "Int8Conv");
  EXPECT_EQ(f.inputs, (std::vector<std::string>{"x", "w", "", "z"}));
  EXPECT_EQ(f.outputs, std::vector<std::string>{"y"});
  // The convolution's output was the Add's B: its scale becomes sum_a_scale.
  EXPECT_FLOAT_EQ(f.attr_float("sum_a_scale", 0), 0.5f);
  EXPECT_FLOAT_EQ(f.attr_float("sum_b_scale", 0), 0.25f);
  EXPECT_FLOAT_EQ(f.attr_float("sum_y_scale", 0), 0.75f);
  EXPECT_EQ(f.attr_string("sum_activation", ""), "relu");
  EXPECT_FLOAT_EQ(f.attr_float("y_scale", 0), 0.5f) << "the convolution keeps its own requantization";
  const TensorMap inputs{{"x", int8_noise({3, 4, 8, 8}, 1)}, {"z", int8_noise({3, 4, 8, 8}, 2)}};
  expect_same_outputs(original, g, inputs, 0.0);
}

TEST(Int8ResidualFusion, BroadcastFloatSumAndSharedOutputsStaySeparate) {
  Graph broadcast = conv_add({-1, 4, 1, 1});
  EXPECT_EQ(fuse_int8_residual_adds(broadcast), 0) << "Z broadcasts";
  Graph float_sum = conv_add({-1, 4, 8, 8}, "float32");
  EXPECT_EQ(fuse_int8_residual_adds(float_sum), 0) << "the sum is float";
  Graph shared = conv_add({-1, 4, 8, 8});
  shared.outputs.push_back(shared.value_info.at("c"));
  EXPECT_EQ(fuse_int8_residual_adds(shared), 0) << "C is a graph output";
}

// Every residual Add with an int8 output in the sample networks' INT8 engines
// (channels-last, with the CPU's kernels bound) fuses, and the outputs stay bit for
// bit the same. (ResNet's last Add feeds the float GlobalAveragePool: a float sum.)
TEST(Int8ResidualFusion, SampleEnginesKeepTheirOutputs) {
  for (const char* model : {"resnet", "mobilenetv2"}) {
    const Graph original = octet::testing::build_int8_sample_engine(model, 32).graph();
    const size_t adds = count_ops(original, "Int8Add");
    const size_t int8_adds = std::count_if(original.nodes.begin(), original.nodes.end(), [](const Node& n) {
      return n.op_type == "Int8Add" && n.attr_string("output_dtype", "") == "int8";
    });
    ASSERT_GT(int8_adds, 0u) << model;
    Graph g = original;
    EXPECT_EQ(fuse_int8_residual_adds(g), static_cast<int>(int8_adds)) << model;
    EXPECT_EQ(count_ops(g, "Int8Add"), adds - int8_adds) << model;
    const TensorMap inputs{{original.inputs.at(0).name, octet::testing::random_images(5, 7)}};
    expect_same_outputs(original, g, inputs, 0.0);
  }
}
