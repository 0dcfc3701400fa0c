#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <limits>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

using namespace octet;
using namespace octet::testing;

namespace {

struct Config {
  Shape x;  // NCHW
  int64_t m, k;
  Shape strides, dilations, pads;
  bool bias;
  std::string activation;  // FusedConv's, or "" for a plain Conv
};

Node conv_node(const Config& c) {
  Node n = make_node(c.activation.empty() ? "Conv" : "FusedConv", c.bias ? 3 : 2);
  if (!c.activation.empty()) {
    n.domain = "octet";
    n.attributes["activation"] = c.activation;
    if (c.activation == "clip") n.attributes["clip_min"] = -0.25f, n.attributes["clip_max"] = 0.5f;
  }
  n.attributes["strides"] = c.strides;
  n.attributes["dilations"] = c.dilations;
  n.attributes["pads"] = c.pads;
  return channels_last(n);
}

std::string describe(const Config& c) {
  return shape_str(c.x) + " m" + std::to_string(c.m) + " k" + std::to_string(c.k) + " s" + shape_str(c.strides) +
         " d" + shape_str(c.dilations) + " p" + shape_str(c.pads) + (c.bias ? " bias " : " ") + c.activation;
}

}  // namespace

TEST(X86SmallChannelConv, MatchesTheReferenceOnChannelsLastConvs) {
  std::mt19937 rng(7);
  const std::vector<Config> configs = {
      {{2, 1, 28, 28}, 16, 5, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, "relu"},     // LeNet's first layer
      {{1, 3, 23, 31}, 64, 7, {2, 2}, {1, 1}, {3, 3, 3, 3}, true, ""},         // ResNet's stem, odd sizes
      {{3, 3, 17, 19}, 32, 3, {2, 2}, {1, 1}, {1, 0, 0, 1}, false, "clip"},    // MobileNet's stem, asymmetric pads
      {{1, 2, 9, 40}, 5, 3, {1, 1}, {2, 2}, {2, 2, 2, 2}, true, "none"},       // dilation, M below one block
      {{2, 4, 12, 12}, 20, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, true, ""},         // 1x1, M not a multiple of 16
      {{1, 1, 4, 3}, 8, 5, {1, 1}, {1, 1}, {2, 2, 2, 2}, false, "relu"},       // no interior pixels at all
      {{1, 3, 30, 30}, 33, 3, {3, 1}, {1, 1}, {0, 1, 2, 1}, true, "relu"},     // unequal strides
  };
  for (const Config& c : configs) {
    const Node node = conv_node(c);
    const Tensor x = to_nhwc(random_floats(c.x, rng));
    const Tensor w = random_floats({c.m, c.x[1], c.k, c.k}, rng);
    const Tensor b = random_floats({c.m}, rng);
    std::vector<const Tensor*> inputs = {&x, &w};
    if (c.bias) inputs.push_back(&b);
    const int64_t opset = node.domain == "octet" ? 1 : 17;
    ASSERT_TRUE(accepts("x86", node, inputs, opset)) << describe(c);
    const Tensor want = run_with_constants("reference", node, inputs, opset);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      expect_close_fp32(run_with_constants("x86", node, inputs, opset), want, describe(c), 1e-5);
    }
    set_num_threads(1);
  }
}

TEST(X86SmallChannelConv, DeclinesWhatItDoesNotCover) {
  std::mt19937 rng(3);
  const Tensor x = to_nhwc(random_floats({1, 8, 6, 6}, rng));
  const Tensor w8 = random_floats({4, 8, 3, 3}, rng), w2 = random_floats({4, 2, 3, 3}, rng);
  const Tensor z = random_floats({1, 6, 6, 4}, rng);
  const Config base{{1, 2, 6, 6}, 4, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, ""};
  Node nchw = conv_node(base);
  nchw.attributes.erase(kLayoutAttribute);
  EXPECT_FALSE(accepts("x86", nchw, {&x, &w2}, 17)) << "NCHW";
  EXPECT_FALSE(accepts("x86", conv_node(base), {&x, &w8}, 17)) << "8 input channels";
  Node grouped = conv_node(base);
  grouped.attributes["group"] = int64_t{2};
  EXPECT_FALSE(accepts("x86", grouped, {&x, &w2}, 17)) << "grouped";
  Node residual = conv_node({base.x, 4, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, "relu"});
  residual.inputs = {"x", "w", "", "z"};
  EXPECT_FALSE(accepts("x86", residual, {&x, &w2, nullptr, &z}, 1)) << "residual";
  Node sigmoid = conv_node({base.x, 4, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, "sigmoid"});
  EXPECT_FALSE(accepts("x86", sigmoid, {&x, &w2}, 1)) << "sigmoid";
}

TEST(X86SmallChannelConv, WrongInputChannelsIsAnError) {
  std::mt19937 rng(5);
  const Tensor x = to_nhwc(random_floats({1, 3, 6, 6}, rng));
  const Tensor w = random_floats({4, 2, 3, 3}, rng);
  const Node node = conv_node({{1, 2, 6, 6}, 4, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, ""});
  try {
    run_with_constants("x86", node, {&x, &w}, 17);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be float32 [N, H, W, 2]"), std::string::npos) << e.what();
  }
}

// Prints this kernel's and oneDNN's time for LeNet's first layer at batch 64 (kernel selection picks per machine).
TEST(X86SmallChannelConv, TimingAgainstOnednn) {
  std::mt19937 rng(11);
  const Config c{{64, 1, 28, 28}, 16, 5, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, "relu"};
  const Node node = conv_node(c);
  const Tensor x = to_nhwc(random_floats(c.x, rng)), w = random_floats({16, 1, 5, 5}, rng), b = random_floats({16}, rng);
  set_num_threads(2);
  for (const char* backend : {"x86", "onednn"}) {
    const Graph graph = graph_with_constants(node, {&x, &w, &b});
    const auto kernel = KernelRegistry::global().find("octet", "FusedConv", 1, backend)->bind(node, graph);
    double best = 1e30;
    for (int i = 0; i < 30; ++i) {
      KernelContext ctx{node, 1, {&x, &w, &b}, std::vector<Tensor>(1)};
      const auto t0 = std::chrono::steady_clock::now();
      kernel->run(ctx);
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("LeNet conv1 [64,28,28,1] -> 16 ch, 5x5, 2 threads: %s %.3f ms\n", backend, best);
  }
  set_num_threads(1);
}
