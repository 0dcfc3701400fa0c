// Channels-last nodes on the reference backend (src/kernels/reference/channels_last.h):
// every op that may carry layout "NHWC", run on NHWC data, gives exactly its
// NCHW node's output transposed; and the errors and memory of the wrapper.
#include <random>
#include <string>
#include <vector>

#include "support/kernel_harness.h"

namespace octet::testing {
namespace {

// `node` (NCHW) on `inputs` and its channels-last twin on the same inputs with
// those at `activations` in NHWC: the twin's output is the NCHW output transposed, bit for bit.
void expect_channels_last_matches(const Node& node, const std::vector<const Tensor*>& inputs,
                                  const std::vector<size_t>& activations, int64_t opset, const std::string& what) {
  expect_bit_identical(run_channels_last(node, inputs, activations, opset, "reference", Graph{}),
                       run_node(node, inputs, opset)[0], what);
}

// The message of the Error that running `node` raises; a test failure when it runs cleanly.
std::string error_of(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset) {
  try {
    run_node(node, inputs, opset);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected " << node.describe() << " to fail";
  return "";
}

Node conv_node(const std::string& op_type, int64_t group, Shape kernel, Shape strides, Shape pads,
               const std::string& auto_pad = "", Shape dilations = {1, 1}) {
  Node node = make_node(op_type, 3, 1,
                        {{"group", group}, {"kernel_shape", kernel}, {"strides", strides}, {"dilations", dilations}});
  if (auto_pad.empty())
    node.attributes["pads"] = pads;
  else
    node.attributes["auto_pad"] = auto_pad;
  return node;
}

// Convolutions with N, C, H and W all different, so that a swapped axis shows.
struct ConvCase {
  const char* what;
  Node node;
  Shape x, w;
};

std::vector<ConvCase> conv_cases(const std::string& op_type) {
  return {
      {"3x3 pad 1", conv_node(op_type, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}), {2, 3, 7, 5}, {4, 3, 3, 3}},
      {"strided asymmetric pads", conv_node(op_type, 1, {3, 2}, {2, 3}, {0, 1, 2, 1}), {2, 3, 9, 8}, {5, 3, 3, 2}},
      {"grouped", conv_node(op_type, 2, {3, 3}, {1, 1}, {1, 0, 1, 0}), {1, 4, 6, 7}, {6, 2, 3, 3}},
      {"depthwise", conv_node(op_type, 5, {3, 3}, {2, 2}, {1, 1, 1, 1}), {2, 5, 8, 9}, {10, 1, 3, 3}},
      {"dilated", conv_node(op_type, 1, {3, 3}, {1, 1}, {2, 2, 2, 2}, "", {2, 2}), {1, 3, 8, 6}, {4, 3, 3, 3}},
      {"same upper", conv_node(op_type, 1, {3, 3}, {2, 2}, {}, "SAME_UPPER"), {2, 3, 7, 6}, {4, 3, 3, 3}},
      {"1x1", conv_node(op_type, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}), {3, 6, 4, 5}, {2, 6, 1, 1}},
  };
}

TEST(ChannelsLast, ConvMatchesNchw) {
  std::mt19937 rng(1);
  for (const ConvCase& c : conv_cases("Conv"))
    for (bool bias : {true, false}) {
      const Tensor x = random_floats(c.x, rng), w = random_floats(c.w, rng), b = random_floats({c.w[0]}, rng);
      expect_channels_last_matches(c.node, {&x, &w, bias ? &b : nullptr}, {0}, 17,
                                   std::string("Conv ") + c.what + (bias ? " bias" : ""));
    }
}

TEST(ChannelsLast, FusedConvWithResidualAndActivationMatchesNchw) {
  std::mt19937 rng(2);
  for (const ConvCase& c : conv_cases("FusedConv"))
    for (const char* activation : {"relu", "clip", "sigmoid", "none"})
      for (bool residual : {true, false}) {
        Node node = c.node;
        node.domain = "octet";
        node.attributes["activation"] = std::string(activation);
        node.attributes["clip_min"] = -0.3f;
        node.attributes["clip_max"] = 0.4f;
        const Tensor x = random_floats(c.x, rng), w = random_floats(c.w, rng), b = random_floats({c.w[0]}, rng);
        std::vector<const Tensor*> inputs{&x, &w, &b};
        const Tensor y = run_node(node, inputs, 1)[0];
        const Tensor z = random_floats(y.shape(), rng);
        if (residual) {
          node.inputs.push_back("z");
          inputs.push_back(&z);
        }
        const std::string what = std::string("FusedConv ") + c.what + " " + activation;
        expect_channels_last_matches(node, inputs, {0, 3}, 1, what + (residual ? " residual" : ""));
      }
}

TEST(ChannelsLast, Int8ConvMatchesNchwForInt8AndFloatOutputs) {
  std::mt19937 rng(3);
  for (const ConvCase& c : conv_cases("Int8Conv"))
    for (const char* output_dtype : {"int8", "float32"}) {
      Node node = c.node;
      node.domain = "octet";
      node.attributes["x_scale"] = 0.05f;
      node.attributes["w_scales"] = std::vector<float>(c.w[0], 0.01f);
      node.attributes["y_scale"] = 0.2f;
      node.attributes["output_dtype"] = std::string(output_dtype);
      node.attributes["activation"] = std::string("relu");
      const Tensor x = random_int8(c.x, rng), w = random_int8(c.w, rng, -127, 127);
      const Tensor b = random_int32({c.w[0]}, rng, -500, 500);
      expect_channels_last_matches(node, {&x, &w, &b}, {0}, 1, std::string("Int8Conv ") + c.what + " " + output_dtype);
    }
}

TEST(ChannelsLast, PoolsMatchNchw) {
  std::mt19937 rng(4);
  const std::vector<std::map<std::string, Attribute>> windows{
      {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"pads", Shape{1, 1, 1, 1}}},
      {{"kernel_shape", Shape{3, 2}}, {"strides", Shape{2, 1}}, {"pads", Shape{1, 0, 0, 1}}, {"ceil_mode", int64_t{1}}},
      {{"kernel_shape", Shape{2, 3}}, {"dilations", Shape{2, 1}}},
      {{"kernel_shape", Shape{3, 3}}, {"auto_pad", std::string("SAME_LOWER")}, {"strides", Shape{2, 2}}},
  };
  const Shape shape{2, 3, 9, 7};
  for (const auto& window : windows) {
    const Tensor f = random_floats(shape, rng), q = random_int8(shape, rng), u = random_uint8(shape, rng);
    for (const Tensor* x : {&f, &q, &u})
      expect_channels_last_matches(make_node("MaxPool", 1, 1, window), {x}, {0}, 17,
                                   "MaxPool " + std::string(dtype_name(x->dtype())));
    for (int64_t include_pad : {0, 1}) {
      auto attrs = window;
      attrs["count_include_pad"] = include_pad;
      expect_channels_last_matches(make_node("AveragePool", 1, 1, attrs), {&f}, {0}, 17, "AveragePool");
    }
  }
  const Tensor x = random_floats(shape, rng);
  expect_channels_last_matches(make_node("GlobalAveragePool", 1), {&x}, {0}, 17, "GlobalAveragePool");
  expect_channels_last_matches(make_node("GlobalMaxPool", 1), {&x}, {0}, 17, "GlobalMaxPool");
}

// Layout "NCHW", like no layout attribute, is ONNX's layout.
TEST(ChannelsLast, ExplicitNchwLayoutIsUnchanged) {
  std::mt19937 rng(5);
  const ConvCase c = conv_cases("Conv")[1];
  const Tensor x = random_floats(c.x, rng), w = random_floats(c.w, rng);
  Node nchw = c.node;
  nchw.attributes[kLayoutAttribute] = std::string("NCHW");
  expect_bit_identical(run_node(nchw, {&x, &w, nullptr})[0], run_node(c.node, {&x, &w, nullptr})[0], "Conv NCHW");
}

TEST(ChannelsLast, NonFourDimensionalActivationFailsNamingTheNode) {
  std::mt19937 rng(6);
  const Tensor x3 = random_floats({1, 5, 3}, rng), w3 = random_floats({2, 3, 3}, rng);
  const std::string conv = error_of(channels_last(make_node("Conv", 2)), {&x3, &w3}, 17);
  EXPECT_NE(conv.find("test_Conv"), std::string::npos) << conv;
  EXPECT_NE(conv.find("input 0 must be 4-D [N, H, W, C], got [1,5,3]"), std::string::npos) << conv;

  // FusedConv's residual Z is an activation too.
  Node fused = channels_last(make_node("FusedConv", 4, 1, {{"activation", std::string("relu")}}));
  fused.domain = "octet";
  const Tensor x = random_floats({1, 4, 4, 3}, rng), w = random_floats({2, 3, 1, 1}, rng);
  const Tensor b = random_floats({2}, rng), z = random_floats({1, 4, 8}, rng);
  const std::string residual = error_of(fused, {&x, &w, &b, &z}, 1);
  EXPECT_NE(residual.find("test_FusedConv"), std::string::npos) << residual;
  EXPECT_NE(residual.find("input 3 must be 4-D"), std::string::npos) << residual;

  const Tensor x5 = random_floats({1, 2, 3, 4, 5}, rng);
  const std::string pool = error_of(channels_last(make_node("GlobalAveragePool", 1)), {&x5}, 17);
  EXPECT_NE(pool.find("test_GlobalAveragePool"), std::string::npos) << pool;
  EXPECT_NE(pool.find("4-D"), std::string::npos) << pool;
}

// MaxPool's Indices count NCHW offsets: a channels-last node has output 0 only.
TEST(ChannelsLast, MaxPoolWithIndicesFails) {
  std::mt19937 rng(7);
  const Tensor x = random_floats({1, 4, 4, 2}, rng);
  const std::string message =
      error_of(channels_last(make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{2, 2}}})), {&x}, 17);
  EXPECT_NE(message.find("output 1"), std::string::npos) << message;
}

// The channels-last output is made through the context's allocator (the activation arena).
TEST(ChannelsLast, OutputComesFromTheAllocator) {
  class RecordingAllocator : public OutputAllocator {
   public:
    Tensor allocate(size_t index, DType dtype, const Shape& shape) override {
      requests.push_back(shape);
      given = Tensor(dtype, shape);
      return given;
    }
    std::vector<Shape> requests;
    Tensor given;
  } allocator;
  std::mt19937 rng(8);
  const ConvCase c = conv_cases("Conv")[0];  // X [2, 3, 7, 5], W [4, 3, 3, 3], pads 1
  const Node node = channels_last(c.node);
  const Tensor x = to_nhwc(random_floats(c.x, rng)), w = random_floats(c.w, rng);
  KernelContext ctx{node, 17, {&x, &w, nullptr}, std::vector<Tensor>(1), &allocator};
  KernelRegistry::global().find("", "Conv", 17)->bind(node, Graph{})->run(ctx);
  ASSERT_EQ(allocator.requests, (std::vector<Shape>{{2, 7, 5, 4}}));
  EXPECT_EQ(ctx.outputs[0].raw(), allocator.given.raw());
}

}  // namespace
}  // namespace octet::testing
