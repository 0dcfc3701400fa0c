// The x86 backend's convolutions against the reference Conv / FusedConv on
// channels-last activations: ResNet-50 and MobileNetV2 layer shapes (scaled down
// in batch and size) and odd channel counts that leave partial vectors, every
// activation it fuses, with and without the residual; the configurations it
// leaves to other backends; and (not an assertion) its speed against onednn.
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

struct ConvCase {
  int64_t batch, in_channels, out_channels, kernel, stride, size, pad;  // size: H = W
  bool bias;

  std::string str() const {
    return "N" + std::to_string(batch) + " " + std::to_string(in_channels) + "->" + std::to_string(out_channels) +
           " k" + std::to_string(kernel) + " s" + std::to_string(stride) + " " + std::to_string(size) + "x" +
           std::to_string(size) + " pad " + std::to_string(pad) + (bias ? " bias" : "");
  }
  int64_t out_size() const { return (size + 2 * pad - kernel) / stride + 1; }
};

struct Activation {
  std::string name;
  std::map<std::string, Attribute> attributes;
};

const std::vector<Activation>& fused_activations() {
  static const std::vector<Activation> a{{"none", {}},
                                         {"relu", {}},
                                         {"clip", {{"clip_min", 0.0f}, {"clip_max", 6.0f}}},
                                         {"clip", {{"clip_min", -0.5f}}},
                                         {"leaky_relu", {{"alpha", 0.2f}}}};
  return a;
}

Node conv_node(const ConvCase& c, const std::string& op_type, bool residual, const Activation& activation) {
  Node node = make_node(op_type, residual ? 4 : c.bias ? 3 : 2);
  if (op_type == "FusedConv") {
    node.domain = "octet";
    node.attributes = activation.attributes;
    node.attributes["activation"] = activation.name;
  }
  if (residual && !c.bias) node.inputs[2].clear();
  node.attributes["strides"] = Shape{c.stride, c.stride};
  node.attributes["kernel_shape"] = Shape{c.kernel, c.kernel};
  node.attributes["pads"] = Shape{c.pad, c.pad, c.pad, c.pad};
  return node;
}

struct Operands {
  Tensor x, w, b, z;
  std::vector<const Tensor*> inputs;
  Graph graph;  // W and B constant
};

Operands operands(const ConvCase& c, const Node& node, bool residual, std::mt19937& rng) {
  Operands o;
  o.x = random_floats({c.batch, c.in_channels, c.size, c.size}, rng);
  const float a = 3.0f / std::sqrt(static_cast<float>(c.in_channels * c.kernel * c.kernel));
  o.w = random_floats({c.out_channels, c.in_channels, c.kernel, c.kernel}, rng, -a, a);
  o.b = random_floats({c.out_channels}, rng);
  o.z = random_floats({c.batch, c.out_channels, c.out_size(), c.out_size()}, rng);
  o.inputs = {&o.x, &o.w, c.bias ? &o.b : nullptr};
  if (residual) o.inputs.push_back(&o.z);
  o.graph.initializers[node.inputs[1]] = o.w;
  if (c.bias) o.graph.initializers[node.inputs[2]] = o.b;
  return o;
}

void expect_matches(const ConvCase& c, const std::string& op_type, bool residual, const Activation& activation,
                    std::mt19937& rng) {
  const Node node = conv_node(c, op_type, residual, activation);
  const Operands o = operands(c, node, residual, rng);
  const std::string what = op_type + " " + c.str() + (residual ? " residual " : " ") + activation.name;
  ASSERT_TRUE(accepts("x86", channels_last(node), o.inputs, 1)) << what;
  expect_close_fp32(run_channels_last(node, o.inputs, {0, 3}, 1, "x86", o.graph), run_node(node, o.inputs, 1)[0],
                    what);
}

class X86ConvTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
};

std::vector<ConvCase> pointwise_cases() {
  return {
      {2, 64, 256, 1, 1, 14, 0, true},   // ResNet expand, where the residual joins
      {2, 256, 64, 1, 1, 14, 0, false},  // ResNet reduce
      {2, 256, 512, 1, 2, 14, 0, true},  // ResNet downsample (strided)
      {3, 96, 24, 1, 1, 9, 0, true},     // MobileNetV2 project
      {1, 32, 16, 1, 1, 7, 0, false},
      {2, 17, 100, 1, 2, 11, 0, true},   // partial vectors and panels, odd size
      {1, 5, 3, 1, 1, 3, 0, true},
  };
}

TEST_F(X86ConvTest, Pointwise1x1MatchesReference) {
  std::mt19937 rng(1);
  for (const ConvCase& c : pointwise_cases()) {
    expect_matches(c, "Conv", false, {"none", {}}, rng);
    for (bool residual : {false, true})
      for (const Activation& a : fused_activations()) expect_matches(c, "FusedConv", residual, a, rng);
  }
}

std::vector<ConvCase> winograd_cases() {
  return {
      {2, 64, 64, 3, 1, 14, 1, true},    // ResNet 3x3
      {2, 128, 128, 3, 1, 7, 1, false},  // odd size: the last tiles' second row and column fall outside Y
      {1, 64, 80, 3, 1, 9, 0, true},     // no padding
      {3, 65, 97, 3, 1, 6, 2, true},     // partial vectors and panels, wide padding
      {1, 72, 64, 3, 1, 3, 1, false},
  };
}

TEST_F(X86ConvTest, Winograd3x3MatchesReference) {
  std::mt19937 rng(4);
  for (const ConvCase& c : winograd_cases()) {
    expect_matches(c, "Conv", false, {"none", {}}, rng);
    for (bool residual : {false, true})
      for (const Activation& a : fused_activations()) expect_matches(c, "FusedConv", residual, a, rng);
  }
}

// The direct convolution: stems with 1 and 3 channels, strided and narrow 3x3s,
// 5x5, 7x7 stride 2, padded 1x1, partial vectors and panels, non-square kernels
// and dilation (below).
std::vector<ConvCase> direct_cases() {
  return {
      {2, 1, 16, 3, 1, 28, 1, true},    // the sample ResNet's stem
      {3, 1, 16, 5, 1, 28, 2, true},    // LeNet's first conv
      {2, 16, 32, 5, 1, 14, 0, false},  // LeNet's second conv
      {2, 16, 32, 3, 2, 28, 1, true},   // strided 3x3
      {2, 32, 32, 3, 1, 14, 1, true},   // narrow 3x3
      {1, 3, 64, 7, 2, 30, 3, true},    // ResNet-50's stem (scaled down)
      {2, 8, 8, 1, 1, 5, 1, true},      // padded 1x1
      {1, 5, 100, 3, 3, 10, 2, true},   // partial vectors and panels, stride 3, wide padding
      {2, 7, 70, 2, 1, 6, 0, false},    // even kernel
  };
}

TEST_F(X86ConvTest, DirectMatchesReference) {
  std::mt19937 rng(6);
  for (const ConvCase& c : direct_cases()) {
    expect_matches(c, "Conv", false, {"none", {}}, rng);
    for (bool residual : {false, true})
      for (const Activation& a : fused_activations()) expect_matches(c, "FusedConv", residual, a, rng);
  }
}

TEST_F(X86ConvTest, DirectHandlesDilationAndRectangularKernels) {
  std::mt19937 rng(7);
  const ConvCase c{2, 6, 20, 3, 1, 12, 2, true};
  Node dilated = conv_node(c, "FusedConv", true, {"relu", {}});
  dilated.attributes["dilations"] = Shape{2, 2};
  Operands o = operands(c, dilated, true, rng);
  o.z = random_floats({c.batch, c.out_channels, 12, 12}, rng);
  expect_close_fp32(run_channels_last(dilated, o.inputs, {0, 3}, 1, "x86", o.graph), run_node(dilated, o.inputs, 1)[0],
                    "dilation 2");

  // 1x5 and 5x1 kernels (Inception-style), asymmetric pads, strides 2x1.
  Node wide = conv_node(c, "Conv", false, {});
  wide.attributes["kernel_shape"] = Shape{1, 5};
  wide.attributes["pads"] = Shape{0, 2, 1, 1};
  wide.attributes["strides"] = Shape{2, 1};
  Operands ow = operands(c, wide, false, rng);
  ow.w = random_floats({c.out_channels, c.in_channels, 1, 5}, rng);
  ow.graph.initializers[wide.inputs[1]] = ow.w;
  ow.inputs[1] = &ow.w;
  expect_close_fp32(run_channels_last(wide, ow.inputs, {0}, 1, "x86", ow.graph), run_node(wide, ow.inputs, 1)[0],
                    "1x5");

  Node same = conv_node(c, "Conv", false, {});
  same.attributes.erase("pads");
  same.attributes["auto_pad"] = std::string("SAME_LOWER");
  same.attributes["strides"] = Shape{2, 2};
  const Operands os = operands(c, same, false, rng);
  expect_close_fp32(run_channels_last(same, os.inputs, {0}, 1, "x86", os.graph), run_node(same, os.inputs, 1)[0],
                    "SAME_LOWER stride 2");
}

// FusedConv + MaxPool (kernels/pooled_conv.h): LeNet's 2x2 pools, overlapping 3x3
// stride-2 windows, windows that leave the last conv rows and columns unread; onednn
// (conv, then its MaxPool) too.
TEST_F(X86ConvTest, DirectConvWithMaxPoolMatchesReference) {
  std::mt19937 rng(8);
  struct PoolCase {
    ConvCase conv;
    int64_t kernel, stride;
  };
  const std::vector<PoolCase> cases{{{2, 1, 16, 5, 1, 28, 2, true}, 2, 2},
                                    {{1, 16, 32, 5, 1, 14, 0, true}, 2, 2},
                                    {{2, 3, 20, 3, 1, 11, 1, false}, 3, 2},
                                    {{1, 4, 17, 3, 2, 15, 0, true}, 2, 3}};
  for (const PoolCase& p : cases)
    for (const char* backend : {"x86", "onednn"}) {
      Node node = conv_node(p.conv, "FusedConv", false, {"relu", {}});
      node.attributes["pool_kernel_shape"] = Shape{p.kernel, p.kernel};
      node.attributes["pool_strides"] = Shape{p.stride, p.stride};
      const Operands o = operands(p.conv, node, false, rng);
      const std::string what = std::string(backend) + " " + p.conv.str() + " max pool " + std::to_string(p.kernel) +
                               " stride " + std::to_string(p.stride);
      const Tensor want = run_node(node, o.inputs, 1)[0];
      const int64_t pooled = (p.conv.out_size() - p.kernel) / p.stride + 1;
      ASSERT_EQ(want.shape(), (Shape{p.conv.batch, p.conv.out_channels, pooled, pooled})) << what;
      expect_close_fp32(run_channels_last(node, o.inputs, {0}, 1, backend, o.graph), want, what);
    }
  // Pooling after a residual is left to the reference.
  const ConvCase c{1, 4, 8, 3, 1, 6, 1, true};
  Node residual = channels_last(conv_node(c, "FusedConv", true, {"relu", {}}));
  residual.attributes["pool_kernel_shape"] = Shape{2, 2};
  const Operands o = operands(c, residual, true, rng);
  EXPECT_FALSE(accepts("x86", residual, o.inputs, 1));
}

// Depthwise (group = C = M): MobileNetV2's 3x3s (stride 1 and 2), odd channel counts
// that leave partial vectors, 5x5 and dilation, every fused activation, the residual.
TEST_F(X86ConvTest, DepthwiseMatchesReference) {
  std::mt19937 rng(9);
  struct DepthwiseCase {
    ConvCase conv;  // in = out channels
    int64_t dilation;
  };
  const std::vector<DepthwiseCase> cases{{{2, 32, 32, 3, 1, 14, 1, true}, 1},  {{2, 96, 96, 3, 2, 15, 1, true}, 1},
                                         {{1, 17, 17, 3, 1, 9, 1, false}, 1},  {{2, 40, 40, 5, 2, 12, 2, true}, 1},
                                         {{1, 24, 24, 3, 1, 11, 2, true}, 2}, {{3, 8, 8, 3, 1, 1, 1, true}, 1}};
  for (const DepthwiseCase& d : cases)
    for (bool residual : {false, true})
      for (const Activation& a : fused_activations()) {
        const ConvCase& c = d.conv;
        Node node = conv_node(c, "FusedConv", residual, a);
        node.attributes["group"] = c.in_channels;
        node.attributes["dilations"] = Shape{d.dilation, d.dilation};
        Operands o = operands(c, node, residual, rng);
        o.w = random_floats({c.out_channels, 1, c.kernel, c.kernel}, rng, -0.5f, 0.5f);
        o.graph.initializers[node.inputs[1]] = o.w;
        o.inputs[1] = &o.w;
        const int64_t out = (c.size + 2 * c.pad - (c.kernel - 1) * d.dilation - 1) / c.stride + 1;
        o.z = random_floats({c.batch, c.out_channels, out, out}, rng);
        const std::string what = "depthwise " + c.str() + " dilation " + std::to_string(d.dilation) +
                                 (residual ? " residual " : " ") + a.name;
        ASSERT_TRUE(accepts("x86", channels_last(node), o.inputs, 1)) << what;
        expect_close_fp32(run_channels_last(node, o.inputs, {0, 3}, 1, "x86", o.graph), run_node(node, o.inputs, 1)[0],
                          what);
      }
}

TEST_F(X86ConvTest, WinogradHandlesSamePadding) {
  std::mt19937 rng(5);
  const ConvCase c{2, 64, 72, 3, 1, 10, 0, true};
  Node node = conv_node(c, "FusedConv", true, {"relu", {}});
  node.attributes.erase("pads");
  node.attributes["auto_pad"] = std::string("SAME_UPPER");
  Operands o = operands(c, node, true, rng);
  o.z = random_floats({c.batch, c.out_channels, c.size, c.size}, rng);
  expect_close_fp32(run_channels_last(node, o.inputs, {0, 3}, 1, "x86", o.graph), run_node(node, o.inputs, 1)[0],
                    "SAME_UPPER");
}

TEST_F(X86ConvTest, LeavesOtherConfigurationsToOtherBackends) {
  std::mt19937 rng(2);
  const ConvCase c{1, 8, 8, 1, 1, 5, 0, true};
  const Node plain = conv_node(c, "FusedConv", false, {"relu", {}});
  const Operands o = operands(c, plain, false, rng);
  EXPECT_FALSE(accepts("x86", plain, o.inputs, 1)) << "NCHW";
  EXPECT_TRUE(accepts("x86", channels_last(plain), o.inputs, 1));
  EXPECT_FALSE(accepts("x86", channels_last(conv_node(c, "FusedConv", false, {"sigmoid", {}})), o.inputs, 1));
  Node grouped = channels_last(plain);
  grouped.attributes["group"] = int64_t{2};
  EXPECT_FALSE(accepts("x86", grouped, o.inputs, 1)) << "group 2";
  // 1-D and 3-D convolutions (W of rank 3 or 5).
  const Tensor x1 = random_floats({1, 8, 5}, rng), w1 = random_floats({8, 8, 3}, rng);
  Node conv1d = channels_last(conv_node(c, "Conv", false, {}));
  conv1d.attributes.erase("kernel_shape"), conv1d.attributes.erase("strides"), conv1d.attributes.erase("pads");
  EXPECT_FALSE(accepts("x86", conv1d, {&x1, &w1}, 1)) << "1-D";
  // X not constant-shaped as W says: a clear error, not a wrong answer.
  const Tensor wrong = random_floats({1, 5, 5, 9}, rng);
  std::vector<const Tensor*> inputs = o.inputs;
  inputs[0] = &wrong;
  try {
    run_node(channels_last(plain), inputs, 1, "x86", o.graph);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be float32 [N, H, W, 8]"), std::string::npos) << e.what();
  }
}

// The FusedConv `node` on x86 and on onednn: milliseconds per run of each.
std::vector<double> x86_and_onednn_ms(const Node& node, const Operands& o) {
  const auto x86 = KernelRegistry::global().find("octet", "FusedConv", 1, "x86")->bind(node, o.graph);
  const auto onednn = KernelRegistry::global().find("octet", "FusedConv", 1, "onednn")->bind(node, o.graph);
  return alternating_median_ms({x86.get(), onednn.get()}, node, 1, o.inputs);
}

// Not an assertion: x86 vs onednn on ResNet-50 / MobileNetV2 layers at batch 8 (and the
// Fashion-MNIST samples' layers at batch 64), 2 threads.
TEST_F(X86ConvTest, TimingAgainstOnednn) {
  std::mt19937 rng(3);
  struct Timed {
    ConvCase c;
    bool residual;
  };
  const std::vector<Timed> layers{
      {{8, 64, 256, 1, 1, 56, 0, true}, true},   {{8, 256, 64, 1, 1, 56, 0, true}, false},
      {{8, 1024, 256, 1, 1, 14, 0, true}, false}, {{8, 512, 2048, 1, 1, 7, 0, true}, true},
      {{8, 512, 1024, 1, 2, 28, 0, true}, false}, {{8, 96, 24, 1, 1, 56, 0, true}, false},
      {{8, 32, 16, 1, 1, 112, 0, true}, false},   {{8, 64, 64, 3, 1, 56, 1, true}, false},
      {{8, 128, 128, 3, 1, 28, 1, true}, false},  {{8, 256, 256, 3, 1, 14, 1, true}, false},
      {{8, 512, 512, 3, 1, 7, 1, true}, false},
      {{64, 64, 64, 3, 1, 7, 1, true}, false},  // the Fashion-MNIST sample ResNet's last 3x3, batch 64
      // Direct: ResNet-50's stem; the sample ResNet's stem, strided and narrow 3x3s; LeNet's convs (batch 64).
      {{8, 3, 64, 7, 2, 224, 3, true}, false},  {{64, 1, 16, 3, 1, 28, 1, true}, false},
      {{64, 16, 32, 3, 2, 28, 1, true}, false}, {{64, 32, 32, 3, 1, 14, 1, true}, true},
      {{64, 32, 64, 3, 2, 14, 1, true}, false}, {{64, 1, 16, 5, 1, 28, 2, true}, false},
      {{64, 16, 32, 5, 1, 14, 0, true}, false},
  };
  // Depthwise 3x3 (MobileNetV2 at 224x224, batch 8): stride 2 at 112x112, stride 1 at 56x56 and 14x14.
  const std::vector<ConvCase> depthwise{{8, 96, 96, 3, 2, 112, 1, true}, {8, 144, 144, 3, 1, 56, 1, true},
                                        {8, 384, 384, 3, 1, 14, 1, true}};
  for (const Timed& t : layers) {
    const Node node = channels_last(conv_node(t.c, "FusedConv", t.residual, {"relu", {}}));
    Operands o = operands(t.c, node, t.residual, rng);
    o.x = to_nhwc(o.x), o.z = to_nhwc(o.z);
    const std::vector<double> ms = x86_and_onednn_ms(node, o);
    std::printf("%-40s%s: x86 %7.2f ms  onednn %7.2f ms  (x%.2f)\n", t.c.str().c_str(), t.residual ? " +Z" : "",
                ms[0], ms[1], ms[1] / ms[0]);
  }
  // LeNet's two layers as they run: conv + relu + 2x2 max pool.
  for (const ConvCase& c : {ConvCase{64, 1, 16, 5, 1, 28, 2, true}, ConvCase{64, 16, 32, 5, 1, 14, 0, true}}) {
    Node node = channels_last(conv_node(c, "FusedConv", false, {"relu", {}}));
    node.attributes["pool_kernel_shape"] = Shape{2, 2};
    node.attributes["pool_strides"] = Shape{2, 2};
    Operands o = operands(c, node, false, rng);
    o.x = to_nhwc(o.x);
    const std::vector<double> ms = x86_and_onednn_ms(node, o);
    std::printf("%-40s pool 2: x86 %7.2f ms  onednn %7.2f ms  (x%.2f)\n", c.str().c_str(), ms[0], ms[1], ms[1] / ms[0]);
  }
  for (const ConvCase& c : depthwise) {
    Node node = channels_last(conv_node(c, "FusedConv", false, {"clip", {{"clip_min", 0.0f}, {"clip_max", 6.0f}}}));
    node.attributes["group"] = c.in_channels;
    Operands o = operands(c, node, false, rng);
    o.w = random_floats({c.out_channels, 1, 3, 3}, rng);
    o.graph.initializers[node.inputs[1]] = o.w;
    o.x = to_nhwc(o.x);
    o.inputs[0] = &o.x, o.inputs[1] = &o.w;
    const std::vector<double> ms = x86_and_onednn_ms(node, o);
    std::printf("depthwise %-30s: x86 %7.2f ms  onednn %7.2f ms  (x%.2f)\n", c.str().c_str(), ms[0], ms[1],
                ms[1] / ms[0]);
  }
}

}  // namespace
}  // namespace octet::testing
