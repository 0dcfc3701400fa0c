// onednn Conv / Int8Conv against the reference kernels over ResNet-like and
// random configurations, NCHW and channels-last.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

struct ConvCase {
  int64_t batch, in_channels, out_channels, group, kernel, stride, dilation, size;  // size: H = W
  Shape pads;            // begin h, w, end h, w; ignored with auto_pad
  std::string auto_pad;  // "" = NOTSET
  bool bias;

  std::string str() const {
    return "N" + std::to_string(batch) + " " + std::to_string(in_channels) + "->" + std::to_string(out_channels) +
           " g" + std::to_string(group) + " k" + std::to_string(kernel) + " s" + std::to_string(stride) + " d" +
           std::to_string(dilation) + " " + std::to_string(size) + "x" + std::to_string(size) + " pads " +
           shape_str(pads) + " " + auto_pad + (bias ? " bias" : "");
  }
};

std::vector<ConvCase> resnet_like_cases() {
  std::vector<ConvCase> cases;
  for (int64_t batch : {1, 4}) {
    cases.push_back({batch, 3, 64, 1, 7, 2, 1, 32, {3, 3, 3, 3}, "", true});        // stem
    cases.push_back({batch, 64, 64, 1, 1, 1, 1, 14, {0, 0, 0, 0}, "", false});      // bottleneck reduce
    cases.push_back({batch, 64, 64, 1, 3, 1, 1, 14, {1, 1, 1, 1}, "", true});       // 3x3
    cases.push_back({batch, 64, 256, 1, 1, 1, 1, 14, {0, 0, 0, 0}, "", true});      // expand
    cases.push_back({batch, 128, 128, 1, 3, 2, 1, 14, {1, 1, 1, 1}, "", true});     // strided 3x3
    cases.push_back({batch, 256, 128, 1, 1, 2, 1, 14, {0, 0, 0, 0}, "", false});    // downsample
    cases.push_back({batch, 32, 32, 32, 3, 1, 1, 14, {1, 1, 1, 1}, "", true});      // depthwise
    cases.push_back({batch, 64, 64, 64, 3, 2, 1, 15, {1, 1, 1, 1}, "", false});     // depthwise strided
    cases.push_back({batch, 64, 128, 4, 3, 1, 1, 10, {1, 1, 1, 1}, "", true});      // grouped (ResNeXt)
    cases.push_back({batch, 16, 24, 1, 3, 1, 1, 9, {0, 0, 0, 0}, "SAME_UPPER", true});
    cases.push_back({batch, 16, 24, 1, 3, 2, 1, 10, {0, 0, 0, 0}, "SAME_LOWER", false});
    cases.push_back({batch, 16, 16, 1, 3, 1, 2, 12, {2, 2, 2, 2}, "", true});       // dilated
  }
  return cases;
}

std::vector<ConvCase> random_cases(std::mt19937& rng, int count) {
  auto pick = [&](std::vector<int64_t> values) {
    return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
  };
  std::vector<ConvCase> cases;
  while (static_cast<int>(cases.size()) < count) {
    ConvCase c;
    c.batch = pick({1, 2, 4});
    c.group = pick({1, 1, 2, 4});
    const bool depthwise = pick({0, 1}) && c.group == 1;
    c.in_channels = depthwise ? pick({8, 16, 24}) : c.group * pick({1, 3, 4, 8, 16});
    if (depthwise) c.group = c.in_channels;
    c.out_channels = c.group * (depthwise ? pick({1, 2}) : pick({1, 4, 8, 16}));
    c.kernel = pick({1, 3, 3, 5});
    c.stride = pick({1, 2});
    c.dilation = pick({1, 1, 2});
    c.size = pick({5, 8, 11, 16, 20});
    c.auto_pad = std::vector<std::string>{"", "", "", "SAME_UPPER", "SAME_LOWER", "VALID"}[pick({0, 1, 2, 3, 4, 5})];
    for (int i = 0; i < 4; ++i) c.pads.push_back(pick({0, 0, 1, 2}));
    c.bias = pick({0, 1});
    const int64_t extent = (c.kernel - 1) * c.dilation + 1;
    if (extent <= c.size) cases.push_back(c);
  }
  return cases;
}

Node conv_node(const ConvCase& c, const std::string& op_type) {
  Node node = make_node(op_type, c.bias ? 3 : 2);
  if (op_type == "Int8Conv") node.domain = "octet";
  node.attributes["group"] = c.group;
  node.attributes["strides"] = Shape{c.stride, c.stride};
  node.attributes["dilations"] = Shape{c.dilation, c.dilation};
  node.attributes["kernel_shape"] = Shape{c.kernel, c.kernel};
  if (c.auto_pad.empty())
    node.attributes["pads"] = c.pads;
  else
    node.attributes["auto_pad"] = c.auto_pad;
  return node;
}

Shape weight_shape(const ConvCase& c) { return {c.out_channels, c.in_channels / c.group, c.kernel, c.kernel}; }

enum class Layout { kNchw, kChannelsLast };

// Output 0 of `node` on `backend`, its weights constant, given NCHW `inputs`: channels-last runs
// take X in NHWC and their output is transposed back to NCHW.
Tensor run_onednn(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset, Layout layout,
                  const std::string& backend = "onednn") {
  if (layout == Layout::kNchw) return run_with_constants(backend, node, inputs, opset);
  return run_channels_last(node, inputs, {0}, opset, backend, graph_with_constants(node, inputs));
}

// A random FP32 conv on `backend` within `relative` of the reference's output magnitude;
// returns the largest difference.
double expect_fp32_conv_matches(const ConvCase& c, std::mt19937& rng, Layout layout = Layout::kNchw,
                                const std::string& backend = "onednn", double relative = 1e-4) {
  const Node node = conv_node(c, "Conv");
  const Tensor x = random_floats({c.batch, c.in_channels, c.size, c.size}, rng);
  const Tensor w = random_floats(weight_shape(c), rng);
  const Tensor b = random_floats({c.out_channels}, rng);
  std::vector<const Tensor*> inputs{&x, &w};
  if (c.bias) inputs.push_back(&b);
  const Tensor got = run_onednn(node, inputs, 17, layout, backend), want = run_node(node, inputs, 17)[0];
  expect_close_fp32(got, want, c.str() + (layout == Layout::kChannelsLast ? " NHWC " : " ") + backend, relative);
  double largest_difference = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    largest_difference = std::max(largest_difference, std::abs(got.get_as_double(i) - want.get_as_double(i)));
  return largest_difference;
}

// Int8Conv attributes with scales that spread the outputs over the int8 range.
void set_int8_attributes(Node& node, int64_t out_channels, int64_t depth, const std::string& output_dtype,
                         const std::string& activation, std::mt19937& rng) {
  const float x_scale = 0.02f;
  std::uniform_real_distribution<float> w_scale(0.001f, 0.01f);
  std::vector<float> w_scales;
  for (int64_t m = 0; m < out_channels; ++m) w_scales.push_back(w_scale(rng));
  // Uniform int8 operands: each product has a standard deviation of about 73^2.
  const float output_std = static_cast<float>(std::sqrt(double(depth)) * 73 * 73 * x_scale * 0.0055);
  node.attributes["x_scale"] = x_scale;
  node.attributes["w_scales"] = w_scales;
  node.attributes["y_scale"] = output_std / 40.0f;
  node.attributes["output_dtype"] = output_dtype;
  node.attributes["activation"] = activation;
  if (activation == "clip") {
    node.attributes["clip_min"] = -0.7f * output_std;
    node.attributes["clip_max"] = 1.3f * output_std;
  }
}

void expect_int8_conv_matches(const ConvCase& c, const std::string& output_dtype, const std::string& activation,
                              std::mt19937& rng, Int8Mismatches& tally, Layout layout = Layout::kNchw) {
  Node node = conv_node(c, "Int8Conv");
  set_int8_attributes(node, c.out_channels, c.in_channels / c.group * c.kernel * c.kernel, output_dtype, activation,
                      rng);
  const Tensor x = random_int8({c.batch, c.in_channels, c.size, c.size}, rng);
  const Tensor w = random_int8(weight_shape(c), rng, -127, 127);
  const Tensor b = random_int32({c.out_channels}, rng, -20000, 20000);
  std::vector<const Tensor*> inputs{&x, &w};
  if (c.bias) inputs.push_back(&b);
  expect_int8_kernel_match(run_onednn(node, inputs, 1, layout), run_node(node, inputs, 1)[0],
                           c.str() + " " + output_dtype + " " + activation +
                               (layout == Layout::kChannelsLast ? " NHWC" : ""),
                           tally);
}

class OnednnConvTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
};

TEST_F(OnednnConvTest, Fp32MatchesReferenceOnResNetLikeShapes) {
  std::mt19937 rng(1);
  for (const ConvCase& c : resnet_like_cases()) expect_fp32_conv_matches(c, rng);
}

TEST_F(OnednnConvTest, Fp32MatchesReferenceOnRandomConfigurations) {
  std::mt19937 rng(2);
  for (const ConvCase& c : random_cases(rng, 60)) expect_fp32_conv_matches(c, rng);
}

TEST_F(OnednnConvTest, Int8MatchesReferenceOnResNetLikeShapes) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(3);
  Int8Mismatches tally;
  for (const ConvCase& c : resnet_like_cases())
    for (const char* output_dtype : {"int8", "float32"})
      for (const char* activation : {"none", "relu", "clip"})
        expect_int8_conv_matches(c, output_dtype, activation, rng, tally);
  report_int8_mismatches(tally);
}

TEST_F(OnednnConvTest, Int8MatchesReferenceOnRandomConfigurations) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(4);
  Int8Mismatches tally;
  const std::vector<ConvCase> cases = random_cases(rng, 60);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i];
    const char* output_dtype = i % 3 == 2 ? "float32" : "int8";
    const char* activation = std::vector<const char*>{"none", "relu", "clip"}[i % 3 == 2 ? i / 3 % 3 : i % 3];
    expect_int8_conv_matches(c, output_dtype, activation, rng, tally);
  }
  report_int8_mismatches(tally);
}

TEST_F(OnednnConvTest, Bf16IsWithinBf16RoundingOfTheReference) {
  if (!onednn::native_bf16()) GTEST_SKIP() << "this CPU has no native BF16 (avx512_bf16 or AMX): the BF16 kernels decline";
  std::mt19937 rng(21);
  for (const ConvCase& c : resnet_like_cases())
    for (Layout layout : {Layout::kNchw, Layout::kChannelsLast}) {
      // X and W rounded to BF16's 8-bit mantissa, FP32 sums: within 2% of the output's magnitude,
      // and not the FP32 result (the rounding shows, so the kernel really multiplies BF16).
      EXPECT_GT(expect_fp32_conv_matches(c, rng, layout, "onednn-bf16", 2e-2), 1e-5) << c.str() << ": identical to FP32";
    }
}

// Channels-last: X and Y NHWC, the primitive made for them (no reorders).
TEST_F(OnednnConvTest, ChannelsLastFp32MatchesReferenceOnResNetLikeShapes) {
  std::mt19937 rng(9);
  for (const ConvCase& c : resnet_like_cases()) expect_fp32_conv_matches(c, rng, Layout::kChannelsLast);
}

TEST_F(OnednnConvTest, ChannelsLastFp32MatchesReferenceOnRandomConfigurations) {
  std::mt19937 rng(10);
  for (const ConvCase& c : random_cases(rng, 40)) expect_fp32_conv_matches(c, rng, Layout::kChannelsLast);
}

TEST_F(OnednnConvTest, ChannelsLastInt8MatchesReferenceBitForBit) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(11);
  Int8Mismatches tally;
  for (const ConvCase& c : resnet_like_cases())
    for (const char* output_dtype : {"int8", "float32"})
      for (const char* activation : {"none", "relu", "clip"})
        expect_int8_conv_matches(c, output_dtype, activation, rng, tally, Layout::kChannelsLast);
  for (const ConvCase& c : random_cases(rng, 40))
    expect_int8_conv_matches(c, "int8", "relu", rng, tally, Layout::kChannelsLast);
  EXPECT_EQ(tally.off_by_one, 0) << "of " << tally.elements << " int8 elements";
}

// A channels-last X has its channels last: a tensor with them at axis 1 does not fit.
TEST_F(OnednnConvTest, ChannelsLastChecksTheLastAxis) {
  std::mt19937 rng(12);
  const Node node = channels_last(make_node("Conv", 2));
  const Tensor w = random_floats({8, 4, 3, 3}, rng);
  const Tensor nchw = random_floats({1, 4, 6, 5}, rng), nhwc = random_floats({1, 6, 5, 4}, rng);
  const Graph graph = graph_with_constants(node, {&nhwc, &w});
  EXPECT_EQ(run_node(node, {&nhwc, &w}, 17, "onednn", graph)[0].shape(), (Shape{1, 4, 3, 8}));
  try {
    run_node(node, {&nchw, &w}, 17, "onednn", graph);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("X [1,4,6,5] must be [N, H, W, 4]"), std::string::npos) << e.what();
  }
}

// M = 0.5 makes every odd accumulator a tie: both must round half to even.
TEST_F(OnednnConvTest, Int8TiesRoundHalfToEven) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(5);
  const ConvCase c{2, 16, 16, 1, 3, 1, 1, 12, {1, 1, 1, 1}, "", true};
  Node node = conv_node(c, "Int8Conv");
  node.attributes["x_scale"] = 1.0f;
  node.attributes["w_scales"] = std::vector<float>(16, 1.0f);
  node.attributes["y_scale"] = 2.0f;
  const Tensor x = random_int8({2, 16, 12, 12}, rng, -3, 3);
  const Tensor w = random_int8(weight_shape(c), rng, -2, 2);
  const Tensor b = random_int32({16}, rng, -5, 5);
  const std::vector<const Tensor*> inputs{&x, &w, &b};
  const Tensor expected = run_node(node, inputs, 1)[0];
  const Tensor actual = run_with_constants("onednn", node, inputs, 1);
  for (int64_t i = 0; i < expected.numel(); ++i)
    ASSERT_EQ(actual.data<int8_t>()[i], expected.data<int8_t>()[i]) << "element " << i;
}

// A tiny y_scale pushes most outputs past the int8 range (and clip's bounds).
TEST_F(OnednnConvTest, Int8SaturatesLikeReference) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(8);
  const ConvCase c{1, 16, 16, 1, 3, 1, 1, 10, {1, 1, 1, 1}, "", true};
  for (const char* activation : {"none", "relu", "clip"}) {
    Node node = conv_node(c, "Int8Conv");
    set_int8_attributes(node, 16, 16 * 9, "int8", activation, rng);
    node.attributes["y_scale"] = 1e-4f;
    const Tensor x = random_int8({1, 16, 10, 10}, rng);
    const Tensor w = random_int8(weight_shape(c), rng, -127, 127);
    const Tensor b = random_int32({16}, rng, -100, 100);
    const std::vector<const Tensor*> inputs{&x, &w, &b};
    const Tensor expected = run_node(node, inputs, 1)[0];
    const Tensor actual = run_with_constants("onednn", node, inputs, 1);
    int saturated = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
      ASSERT_EQ(actual.data<int8_t>()[i], expected.data<int8_t>()[i]) << activation << ", element " << i;
      saturated += expected.data<int8_t>()[i] == 127;
    }
    EXPECT_GT(saturated, expected.numel() / 4) << activation;
  }
}

// One prepared kernel, several input shapes, several threads at once.
TEST_F(OnednnConvTest, PreparedKernelRunsConcurrentlyOnSeveralShapes) {
  std::mt19937 rng(6);
  const ConvCase c{1, 32, 64, 1, 3, 1, 1, 14, {1, 1, 1, 1}, "", true};
  const Node node = conv_node(c, "Conv");
  const Tensor w = random_floats(weight_shape(c), rng);
  const Tensor b = random_floats({64}, rng);
  std::vector<Tensor> xs, expected;
  for (int64_t batch : {1, 3, 1, 2})
    xs.push_back(random_floats({batch, 32, batch == 2 ? 9 : 14, 14}, rng));
  for (const Tensor& x : xs) expected.push_back(run_node(node, {&x, &w, &b}, 17)[0]);

  const auto kernel = KernelRegistry::global().find("", "Conv", 17, "onednn")->bind(node, graph_with_constants(node, {&xs[0], &w, &b}));
  ASSERT_NE(kernel, nullptr);
  std::vector<Tensor> actual(xs.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < xs.size(); ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 5; ++repeat) {
        KernelContext ctx{node, 17, {&xs[t], &w, &b}, std::vector<Tensor>(1)};
        kernel->run(ctx);
        actual[t] = ctx.outputs[0];
      }
    });
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < xs.size(); ++t) expect_close_fp32(actual[t], expected[t], "input " + std::to_string(t));
}

TEST_F(OnednnConvTest, DeclinesWhatItDoesNotHandle) {
  std::mt19937 rng(7);
  const Tensor x1d = random_floats({1, 4, 10}, rng), w1d = random_floats({8, 4, 3}, rng);
  const Tensor x3d = random_floats({1, 4, 6, 6, 6}, rng), w3d = random_floats({8, 4, 3, 3, 3}, rng);
  const Tensor x = random_floats({1, 4, 6, 6}, rng), w = random_floats({8, 4, 3, 3}, rng);
  const Node conv = make_node("Conv", 2);
  EXPECT_FALSE(accepts("onednn", conv, {&x1d, &w1d}, 17));
  EXPECT_FALSE(accepts("onednn", conv, {&x3d, &w3d}, 17));
  EXPECT_FALSE(accepts("onednn", conv, {&x, &w}, 17, /*first_constant=*/2));  // W not constant
  EXPECT_TRUE(accepts("onednn", conv, {&x, &w}, 17));
  const Tensor w64(DType::kFloat64, {8, 4, 3, 3});
  EXPECT_FALSE(accepts("onednn", conv, {&x, &w64}, 17));

  Node int8_conv = make_node("Int8Conv", 2, 1, {{"x_scale", 0.1f}, {"y_scale", 0.1f},
                                                {"w_scales", std::vector<float>(8, 0.1f)}});
  int8_conv.domain = "octet";
  const Tensor x8 = random_int8({1, 4, 6, 6}, rng), w8 = random_int8({8, 4, 3, 3}, rng, -127, 127);
  EXPECT_EQ(accepts("onednn", int8_conv, {&x8, &w8}, 1), onednn::exact_int8_products());
  EXPECT_FALSE(accepts("onednn", int8_conv, {&x8, &w8}, 1, /*first_constant=*/2));
}

}  // namespace
}  // namespace octet::testing
