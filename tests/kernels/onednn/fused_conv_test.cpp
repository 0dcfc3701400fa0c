// onednn octet.FusedConv against the reference FusedConv: ResNet-like and
// MobileNet-like convolutions, with and without the residual input, every
// activation, batch 1 and 4, NCHW and channels-last.
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

struct FusedCase {
  int64_t in_channels, out_channels, group, kernel, stride, size;  // size: H = W
  int64_t pad;           // on every side; ignored with auto_pad
  std::string auto_pad;  // "" = NOTSET
  bool bias;

  std::string str() const {
    return std::to_string(in_channels) + "->" + std::to_string(out_channels) + " g" + std::to_string(group) + " k" +
           std::to_string(kernel) + " s" + std::to_string(stride) + " " + std::to_string(size) + "x" +
           std::to_string(size) + " pad " + std::to_string(pad) + " " + auto_pad + (bias ? " bias" : "");
  }
};

std::vector<FusedCase> resnet_like_cases() {
  return {
      {3, 64, 1, 7, 2, 32, 3, "", true},      // stem
      {64, 64, 1, 1, 1, 14, 0, "", false},    // bottleneck reduce (1x1: NCHW gemm conv)
      {64, 64, 1, 3, 1, 14, 1, "", true},     // 3x3 (blocked layouts)
      {64, 256, 1, 1, 1, 14, 0, "", true},    // expand, where the residual joins
      {128, 128, 1, 3, 2, 14, 1, "", true},   // strided 3x3
      {256, 128, 1, 1, 2, 14, 0, "", false},  // downsample
      {64, 128, 4, 3, 1, 10, 1, "", true},    // grouped (ResNeXt)
  };
}

std::vector<FusedCase> mobilenet_like_cases() {
  return {
      {3, 32, 1, 3, 2, 33, 0, "SAME_UPPER", true},  // stem
      {32, 32, 32, 3, 1, 16, 1, "", true},          // depthwise
      {96, 96, 96, 3, 2, 15, 1, "", false},         // depthwise strided
      {72, 72, 72, 5, 1, 14, 2, "", true},          // depthwise 5x5 (MobileNetV3)
      {16, 96, 1, 1, 1, 16, 0, "", true},           // pointwise expand
      {96, 24, 1, 1, 1, 16, 0, "", false},          // pointwise project, where the residual joins
  };
}

struct Activation {
  std::string name;
  std::map<std::string, Attribute> attributes;
};

std::vector<Activation> activations() {
  return {
      {"none", {}},
      {"relu", {}},
      {"clip", {{"clip_min", -0.5f}, {"clip_max", 0.8f}}},
      {"clip", {{"clip_max", 6.0f}}},  // unbounded below
      {"clip", {{"clip_min", 0.0f}}},  // unbounded above
      {"leaky_relu", {}},              // default alpha 0.01
      {"leaky_relu", {{"alpha", 0.2f}}},
      {"sigmoid", {}},
      {"hard_swish", {}},
  };
}

std::string activation_str(const Activation& a) {
  std::string s = a.name;
  for (const auto& [key, value] : a.attributes) s += " " + key + "=" + std::to_string(std::get<float>(value));
  return s;
}

Node fused_node(const FusedCase& c, bool residual, const Activation& activation) {
  Node node = make_node("FusedConv", residual ? 4 : c.bias ? 3 : 2);
  node.domain = "octet";
  if (residual && !c.bias) node.inputs[2].clear();
  node.attributes = activation.attributes;
  node.attributes["activation"] = activation.name;
  node.attributes["group"] = c.group;
  node.attributes["strides"] = Shape{c.stride, c.stride};
  node.attributes["kernel_shape"] = Shape{c.kernel, c.kernel};
  if (c.auto_pad.empty())
    node.attributes["pads"] = Shape{c.pad, c.pad, c.pad, c.pad};
  else
    node.attributes["auto_pad"] = c.auto_pad;
  return node;
}

Shape weight_shape(const FusedCase& c) { return {c.out_channels, c.in_channels / c.group, c.kernel, c.kernel}; }

int64_t output_size(const FusedCase& c) {
  if (!c.auto_pad.empty()) return (c.size + c.stride - 1) / c.stride;
  return (c.size + 2 * c.pad - c.kernel) / c.stride + 1;
}

// Weights scaled so conv outputs have a standard deviation near 1: the range
// where sigmoid, hard_swish and the clip bounds all matter.
Tensor scaled_weights(const FusedCase& c, std::mt19937& rng) {
  const float a = 3.0f / std::sqrt(static_cast<float>(c.in_channels / c.group * c.kernel * c.kernel));
  return random_floats(weight_shape(c), rng, -a, a);
}

// W and B constant; X and the residual Z are not, as in a real graph.
Graph weights_graph(const Node& node, const Tensor& w, const Tensor* b) {
  Graph graph;
  graph.initializers[node.inputs[1]] = w;
  if (b) graph.initializers[node.inputs[2]] = *b;
  return graph;
}

// Channels-last runs take X and Z in NHWC; their output is compared transposed back to NCHW.
void expect_fused_conv_matches(const FusedCase& c, int64_t batch, bool residual, const Activation& activation,
                               std::mt19937& rng, bool channels_last_node = false) {
  const Node node = fused_node(c, residual, activation);
  const int64_t out = output_size(c);
  const Tensor x = random_floats({batch, c.in_channels, c.size, c.size}, rng);
  const Tensor w = scaled_weights(c, rng);
  const Tensor b = random_floats({c.out_channels}, rng);
  const Tensor z = random_floats({batch, c.out_channels, out, out}, rng);
  std::vector<const Tensor*> inputs{&x, &w, c.bias ? &b : nullptr};
  if (residual) inputs.push_back(&z);
  const Tensor expected = run_node(node, inputs, 1)[0];
  ASSERT_EQ(expected.shape(), (Shape{batch, c.out_channels, out, out})) << c.str();
  const Graph graph = weights_graph(node, w, c.bias ? &b : nullptr);
  const Tensor actual = channels_last_node ? run_channels_last(node, inputs, {0, 3}, 1, "onednn", graph)
                                           : run_node(node, inputs, 1, "onednn", graph)[0];
  expect_close_fp32(actual, expected,
                    "N" + std::to_string(batch) + " " + c.str() + (residual ? " residual " : " ") +
                        activation_str(activation) + (channels_last_node ? " NHWC" : ""));
}

class OnednnFusedConvTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
};

TEST_F(OnednnFusedConvTest, MatchesReferenceOnResNetLikeShapes) {
  std::mt19937 rng(1);
  for (int64_t batch : {1, 4})
    for (const FusedCase& c : resnet_like_cases())
      for (bool residual : {false, true})
        for (const Activation& a : activations()) expect_fused_conv_matches(c, batch, residual, a, rng);
}

TEST_F(OnednnFusedConvTest, MatchesReferenceOnMobileNetLikeShapes) {
  std::mt19937 rng(2);
  for (int64_t batch : {1, 4})
    for (const FusedCase& c : mobilenet_like_cases())
      for (bool residual : {false, true})
        for (const Activation& a : activations()) expect_fused_conv_matches(c, batch, residual, a, rng);
}

TEST_F(OnednnFusedConvTest, ChannelsLastMatchesReference) {
  std::mt19937 rng(7);
  std::vector<FusedCase> cases = resnet_like_cases();
  for (const FusedCase& c : mobilenet_like_cases()) cases.push_back(c);
  for (int64_t batch : {1, 3})
    for (const FusedCase& c : cases)
      for (bool residual : {false, true})
        for (const Activation& a : activations()) expect_fused_conv_matches(c, batch, residual, a, rng, true);
}

// The activation applies to conv + Z: with a large negative Z, relu(conv + Z) is
// mostly 0, where relu(conv) + Z would be mostly negative.
TEST_F(OnednnFusedConvTest, ActivationAppliesAfterTheResidual) {
  std::mt19937 rng(3);
  for (const FusedCase& c : {FusedCase{16, 32, 1, 3, 1, 8, 1, "", true}, FusedCase{16, 32, 1, 1, 1, 8, 0, "", true}}) {
    const Node node = fused_node(c, true, {"relu", {}});
    const Tensor x = random_floats({2, 16, 8, 8}, rng);
    const Tensor w = scaled_weights(c, rng);
    const Tensor b = random_floats({32}, rng);
    const Tensor z = random_floats({2, 32, 8, 8}, rng, -3.0f, -2.0f);
    const Tensor y = run_node(node, {&x, &w, &b, &z}, 1, "onednn", weights_graph(node, w, &b))[0];
    int64_t zeros = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      ASSERT_GE(y.data<float>()[i], 0.0f) << c.str() << ", element " << i;
      zeros += y.data<float>()[i] == 0.0f;
    }
    EXPECT_GT(zeros, y.numel() * 3 / 4) << c.str();
  }
}

// One prepared kernel, several input shapes, several threads at once, with the
// residual in blocked (3x3) and NCHW (1x1) destinations.
TEST_F(OnednnFusedConvTest, PreparedKernelRunsConcurrentlyOnSeveralShapes) {
  std::mt19937 rng(4);
  for (const FusedCase& c : {FusedCase{32, 64, 1, 3, 1, 14, 1, "", true}, FusedCase{32, 64, 1, 1, 1, 14, 0, "", true}}) {
    const Node node = fused_node(c, true, {"clip", {{"clip_min", -0.5f}, {"clip_max", 0.8f}}});
    const Tensor w = scaled_weights(c, rng);
    const Tensor b = random_floats({64}, rng);
    std::vector<Tensor> xs, zs, expected;
    for (int64_t batch : {1, 3, 1, 2}) {
      const int64_t h = batch == 2 ? 9 : 14;
      xs.push_back(random_floats({batch, 32, h, 14}, rng));
      zs.push_back(random_floats({batch, 64, h, 14}, rng));
      expected.push_back(run_node(node, {&xs.back(), &w, &b, &zs.back()}, 1)[0]);
    }
    const auto kernel =
        KernelRegistry::global().find("octet", "FusedConv", 1, "onednn")->bind(node, weights_graph(node, w, &b));
    ASSERT_NE(kernel, nullptr);
    std::vector<Tensor> actual(xs.size());
    std::vector<std::thread> threads;
    for (size_t t = 0; t < xs.size(); ++t)
      threads.emplace_back([&, t] {
        for (int repeat = 0; repeat < 5; ++repeat) {
          KernelContext ctx{node, 1, {&xs[t], &w, &b, &zs[t]}, std::vector<Tensor>(1)};
          kernel->run(ctx);
          actual[t] = ctx.outputs[0];
        }
      });
    for (auto& thread : threads) thread.join();
    for (size_t t = 0; t < xs.size(); ++t)
      expect_close_fp32(actual[t], expected[t], c.str() + ", input " + std::to_string(t));
  }
}

TEST_F(OnednnFusedConvTest, DeclinesWhatConvDeclines) {
  std::mt19937 rng(5);
  const Tensor x1d = random_floats({1, 4, 10}, rng), w1d = random_floats({8, 4, 3}, rng);
  const Tensor x3d = random_floats({1, 4, 6, 6, 6}, rng), w3d = random_floats({8, 4, 3, 3, 3}, rng);
  const Tensor x = random_floats({1, 4, 6, 6}, rng), w = random_floats({8, 4, 3, 3}, rng);
  const Tensor z = random_floats({1, 8, 4, 4}, rng);
  Node fused = make_node("FusedConv", 4, 1, {{"activation", std::string("relu")}});
  fused.domain = "octet";
  fused.inputs[2].clear();
  EXPECT_TRUE(accepts("onednn", fused, {&x, &w, nullptr, &z}, 1));
  EXPECT_FALSE(accepts("onednn", fused, {&x1d, &w1d, nullptr, &z}, 1));
  EXPECT_FALSE(accepts("onednn", fused, {&x3d, &w3d, nullptr, &z}, 1));
  EXPECT_FALSE(accepts("onednn", fused, {&x, &w, nullptr, &z}, 1, /*first_constant=*/2));  // W not constant
  const Tensor w64(DType::kFloat64, {8, 4, 3, 3});
  EXPECT_FALSE(accepts("onednn", fused, {&x, &w64, nullptr, &z}, 1));
  Node with_bias = fused;
  with_bias.inputs[2] = "in2";
  const Tensor b = random_floats({8}, rng), b64(DType::kFloat64, {8});
  EXPECT_TRUE(accepts("onednn", with_bias, {&x, &w, &b, &z}, 1));
  EXPECT_FALSE(accepts("onednn", with_bias, {&x, &w, &b64, &z}, 1));
}

TEST_F(OnednnFusedConvTest, RejectsBadResidualAndActivation) {
  std::mt19937 rng(6);
  const Tensor x = random_floats({1, 4, 6, 6}, rng), w = random_floats({8, 4, 3, 3}, rng);
  Node fused = make_node("FusedConv", 4, 1, {{"activation", std::string("sigmoid")}});
  fused.domain = "octet";
  fused.inputs[2].clear();
  const Graph graph = weights_graph(fused, w, nullptr);
  const Tensor wrong_shape = random_floats({1, 8, 4, 5}, rng);
  const Tensor wrong_dtype(DType::kFloat64, {1, 8, 4, 4});
  EXPECT_THROW(run_node(fused, {&x, &w, nullptr, &wrong_shape}, 1, "onednn", graph), Error);
  EXPECT_THROW(run_node(fused, {&x, &w, nullptr, &wrong_dtype}, 1, "onednn", graph), Error);
  // A channels-last node's Z is [N, H, W, M] like its output: NCHW's shape does not fit.
  const Tensor nchw_z = random_floats({1, 8, 4, 4}, rng), nhwc_x = random_floats({1, 6, 6, 4}, rng);
  EXPECT_THROW(run_node(channels_last(fused), {&nhwc_x, &w, nullptr, &nchw_z}, 1, "onednn", graph), Error);
  fused.attributes["activation"] = std::string("gelu");
  EXPECT_THROW(run_node(fused, {&x, &w, nullptr, &wrong_shape}, 1, "onednn", graph), Error);
}

}  // namespace
}  // namespace octet::testing
