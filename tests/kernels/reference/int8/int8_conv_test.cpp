// Int8Conv (domain "octet"): requantization (round half to even, saturation,
// activation bounds), per-channel scales, bias, padding, groups, float output,
// and agreement with an exact direct convolution and with the FP32 Conv.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/reference/int8/requantize.h"
#include "octet/parallel.h"
#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::make_node;
using testing::make_tensor;
using testing::run_node;
using testing::i32;
using testing::i8;


// An Int8Conv node with unit scales unless `attrs` says otherwise.
Node conv_node(std::map<std::string, Attribute> attrs, size_t channels = 1, size_t inputs = 2) {
  return testing::unit_scale_int8_node("Int8Conv", std::move(attrs), channels, inputs);
}

std::vector<Tensor> run(const Node& n, const std::vector<const Tensor*>& inputs) { return run_node(n, inputs, 1); }

TEST(Int8Conv, RegisteredInOctetDomainOnly) {
  EXPECT_NE(KernelRegistry::global().find("octet", "Int8Conv", 1), nullptr);
  EXPECT_EQ(KernelRegistry::global().find("", "Int8Conv", 17), nullptr);
}

TEST(Int8Conv, RequantizeRoundsHalfToEven) {
  // M = 0.5: accumulators 1, 3, -1, -3, 5, -5, 7 land exactly on .5.
  const Tensor x = i8({1, 1, 1, 7}, {1, 3, -1, -3, 5, -5, 7}), w = i8({1, 1, 1, 1}, {1});
  auto out = run(conv_node({{"x_scale", 0.5f}}), {&x, &w});
  ASSERT_EQ(out[0].dtype(), DType::kInt8);
  expect_values(out[0], {1, 1, 1, 7}, {0, 2, 0, -2, 2, -2, 4}, 0);
}

TEST(Int8Conv, SaturatesAtBothEnds) {
  const Tensor x = i8({1, 1, 1, 6}, {100, -100, 64, -64, 127, -128}), w = i8({1, 1, 1, 1}, {2});
  auto out = run(conv_node({}), {&x, &w});
  expect_values(out[0], {1, 1, 1, 6}, {127, -128, 127, -128, 127, -128}, 0);
  // Exactly at the ends: 127 and -128 pass unchanged (acc 254 / -256 with M = 0.5).
  auto half = run(conv_node({{"y_scale", 2.0f}}), {&x, &w});
  expect_values(half[0], {1, 1, 1, 6}, {100, -100, 64, -64, 127, -128}, 0);
}

TEST(Int8Conv, ReluAndClipBounds) {
  const Tensor x = i8({1, 1, 1, 5}, {-5, -1, 0, 3, 50}), w = i8({1, 1, 1, 1}, {1});
  auto relu = run(conv_node({{"activation", std::string("relu")}}), {&x, &w});
  expect_values(relu[0], {1, 1, 1, 5}, {0, 0, 0, 3, 50}, 0);
  // y_scale 0.5 (M = 2): bounds round_half_even(-1.25 / 0.5) = -2, round_half_even(3.25 / 0.5) = 6.
  auto clip = run(conv_node({{"activation", std::string("clip")}, {"clip_min", -1.25f}, {"clip_max", 3.25f},
                             {"y_scale", 0.5f}}),
                  {&x, &w});
  expect_values(clip[0], {1, 1, 1, 5}, {-2, -2, 0, 6, 6}, 0);
  // Bounds beyond the int8 range saturate: ReLU6 with y_scale 0.01 is [0, 127].
  auto relu6 = run(conv_node({{"activation", std::string("clip")}, {"clip_min", 0.0f}, {"clip_max", 6.0f},
                              {"y_scale", 0.01f}}),
                   {&x, &w});
  expect_values(relu6[0], {1, 1, 1, 5}, {0, 0, 0, 127, 127}, 0);
}

TEST(Int8Conv, PerChannelScales) {
  const Tensor x = i8({1, 1, 1, 2}, {10, -7}), w = i8({3, 1, 1, 1}, {1, 1, 1});
  auto out = run(conv_node({{"w_scales", std::vector<float>{1.0f, 0.5f, 0.25f}}}, 3), {&x, &w});
  // 10 * {1, .5, .25} = 10, 5, 2.5 -> 2; -7 * ... = -7, -3.5 -> -4, -1.75 -> -2.
  expect_values(out[0], {1, 3, 1, 2}, {10, -7, 5, -4, 2, -2}, 0);
}

TEST(Int8Conv, Bias) {
  const Tensor x = i8({1, 1, 1, 2}, {1, 2}), w = i8({2, 1, 1, 1}, {3, -4}), b = i32({2}, {10, -20});
  auto out = run(conv_node({}, 2, 3), {&x, &w, &b});
  expect_values(out[0], {1, 2, 1, 2}, {13, 16, -24, -28}, 0);
  // A bias past the int8 range saturates; an omitted bias (nullptr) is zero.
  const Tensor big = i32({2}, {1000, -1000});
  auto saturated = run(conv_node({}, 2, 3), {&x, &w, &big});
  expect_values(saturated[0], {1, 2, 1, 2}, {127, 127, -128, -128}, 0);
  auto none = run(conv_node({}, 2, 3), {&x, &w, nullptr});
  expect_values(none[0], {1, 2, 1, 2}, {3, 6, -4, -8}, 0);
}

TEST(Int8Conv, PaddingReadsZeroPoint) {
  const Tensor x = i8({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8}), w = i8({1, 1, 3, 3}, std::vector<int>(9, 1));
  const std::vector<double> expected{8, 15, 12, 21, 36, 27, 20, 33, 24};
  auto out = run(conv_node({{"pads", Shape{1, 1, 1, 1}}}), {&x, &w});
  expect_values(out[0], {1, 1, 3, 3}, expected, 0);
  auto same = run(conv_node({{"auto_pad", std::string("SAME_UPPER")}}), {&x, &w});
  expect_values(same[0], {1, 1, 3, 3}, expected, 0);
  auto strided = run(conv_node({{"pads", Shape{1, 1, 1, 1}}, {"strides", Shape{2, 2}}}), {&x, &w});
  expect_values(strided[0], {1, 1, 2, 2}, {8, 12, 20, 24}, 0);
}

TEST(Int8Conv, DepthwiseAndGrouped) {
  const Tensor x = i8({1, 2, 1, 3}, {1, 2, 3, 4, 5, 6}), w = i8({2, 1, 1, 2}, {1, 1, 2, -1});
  auto depthwise = run(conv_node({{"group", int64_t{2}}}, 2), {&x, &w});
  expect_values(depthwise[0], {1, 2, 1, 2}, {3, 5, 3, 4}, 0);
  // Two groups of two input channels, one output each, over a batch of two.
  const Tensor xg = i8({2, 4, 1, 1}, {1, 2, 3, 4, -1, -2, -3, -4}), wg = i8({2, 2, 1, 1}, {1, 2, 3, 1});
  auto grouped = run(conv_node({{"group", int64_t{2}}}, 2), {&xg, &wg});
  expect_values(grouped[0], {2, 2, 1, 1}, {5, 13, -5, -13}, 0);
}

TEST(Int8Conv, FloatOutput) {
  const Tensor x = i8({1, 1, 1, 3}, {1, 3, -1}), w = i8({2, 1, 1, 1}, {1, 2}), b = i32({2}, {1, -1});
  std::map<std::string, Attribute> attrs{{"x_scale", 0.5f},
                                         {"w_scales", std::vector<float>{0.25f, 0.125f}},
                                         {"output_dtype", std::string("float32")}};
  attrs.erase("y_scale");
  // Accumulators {2, 4, 0} x 0.125 and {1, 5, -3} x 0.0625; y_scale is not needed.
  Node n = make_node("Int8Conv", 3, 1, attrs);
  n.domain = "octet";
  auto out = run(n, {&x, &w, &b});
  ASSERT_EQ(out[0].dtype(), DType::kFloat32);
  expect_values(out[0], {1, 2, 1, 3}, {0.25, 0.5, 0, 0.0625, 0.3125, -0.1875}, 0);
  n.attributes["activation"] = std::string("relu");
  expect_values(run(n, {&x, &w, &b})[0], {1, 2, 1, 3}, {0.25, 0.5, 0, 0.0625, 0.3125, 0}, 0);
  n.attributes["activation"] = std::string("clip");
  n.attributes["clip_min"] = 0.1f;
  n.attributes["clip_max"] = 0.3f;
  expect_values(run(n, {&x, &w, &b})[0], {1, 2, 1, 3}, {0.25, 0.3f, 0.1f, 0.1f, 0.3f, 0.1f}, 0);
}

// ---- randomized: exact direct convolution, and the FP32 Conv on dequantized inputs ----

struct Case {
  int64_t n, c, h, w, m, group, kh, kw;
  Shape strides, pads, dilations;
};

TEST(Int8Conv, RandomizedMatchesSpecAndFp32Conv) {
  std::mt19937 rng(1234);
  const std::vector<Case> cases{
      {2, 4, 7, 6, 6, 2, 3, 2, {2, 1}, {1, 0, 1, 1}, {1, 1}},
      {1, 3, 9, 9, 5, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {2, 1}},
      {3, 6, 5, 8, 6, 6, 3, 3, {1, 2}, {0, 1, 2, 1}, {1, 1}},  // depthwise
      {1, 16, 12, 12, 32, 1, 3, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE("case with C=" + std::to_string(k.c) + " M=" + std::to_string(k.m));
    const int64_t cg = k.c / k.group, mg = k.m / k.group;
    std::uniform_int_distribution<int> xd(-128, 127), wd(-127, 127), bd(-20000, 20000);
    std::uniform_real_distribution<float> sd(0.001f, 0.02f);
    Tensor x(DType::kInt8, {k.n, k.c, k.h, k.w}), w(DType::kInt8, {k.m, cg, k.kh, k.kw}), b(DType::kInt32, {k.m});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<int8_t>()[i] = static_cast<int8_t>(xd(rng));
    for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(rng));
    for (int64_t i = 0; i < b.numel(); ++i) b.data<int32_t>()[i] = bd(rng);
    const float x_scale = 0.037f, y_scale = 0.9f;
    std::vector<float> w_scales(k.m);
    for (float& s : w_scales) s = sd(rng);

    std::map<std::string, Attribute> attrs{{"x_scale", x_scale}, {"w_scales", w_scales}, {"y_scale", y_scale},
                                           {"group", k.group}, {"strides", k.strides}, {"pads", k.pads},
                                           {"dilations", k.dilations}};
    Node node = make_node("Int8Conv", 3, 1, attrs);
    node.domain = "octet";
    const Tensor q = run(node, {&x, &w, &b})[0];
    node.attributes["output_dtype"] = std::string("float32");
    const Tensor f = run(node, {&x, &w, &b})[0];

    // FP32 Conv on the dequantized inputs; the bias dequantizes with x_scale * w_scales[m].
    Tensor xf(DType::kFloat32, x.shape()), wf(DType::kFloat32, w.shape()), bf(DType::kFloat32, b.shape());
    for (int64_t i = 0; i < x.numel(); ++i) xf.data<float>()[i] = x.data<int8_t>()[i] * x_scale;
    for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = w.data<int8_t>()[i] * w_scales[i / (w.numel() / k.m)];
    for (int64_t m = 0; m < k.m; ++m)
      bf.data<float>()[m] = static_cast<float>(b.data<int32_t>()[m] * (static_cast<double>(x_scale) * w_scales[m]));
    Node fp = make_node("Conv", 3, 1, {{"group", k.group}, {"strides", k.strides}, {"pads", k.pads}, {"dilations", k.dilations}});
    const Tensor ref = run_node(fp, {&xf, &wf, &bf}, 17)[0];

    const int64_t oh = q.dim(2), ow = q.dim(3);
    ASSERT_EQ(ref.shape(), q.shape());
    ASSERT_EQ(f.shape(), q.shape());
    const int64_t depth = cg * k.kh * k.kw;
    for (int64_t n = 0; n < k.n; ++n)
      for (int64_t m = 0; m < k.m; ++m)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            // Exact accumulator, and the sum of |terms| (in real units) for the FP32 error bound.
            int64_t acc = b.data<int32_t>()[m];
            double abs_sum = std::abs(bf.data<float>()[m]);
            const int64_t g = m / mg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t ky = 0; ky < k.kh; ++ky)
                for (int64_t kx = 0; kx < k.kw; ++kx) {
                  const int64_t iy = oy * k.strides[0] - k.pads[0] + ky * k.dilations[0];
                  const int64_t ix = ox * k.strides[1] - k.pads[1] + kx * k.dilations[1];
                  if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                  const int xv = x.data<int8_t>()[((n * k.c + g * cg + c) * k.h + iy) * k.w + ix];
                  const int wv = w.data<int8_t>()[((m * cg + c) * k.kh + ky) * k.kw + kx];
                  acc += xv * wv;
                  abs_sum += std::abs(xv * wv) * (static_cast<double>(x_scale) * w_scales[m]);
                }
            const int64_t i = ((n * k.m + m) * oh + oy) * ow + ox;
            const float expected_q = std::nearbyint(static_cast<float>(acc) * int8::requant_multiplier(x_scale, w_scales[m], y_scale));
            ASSERT_EQ(q.data<int8_t>()[i], static_cast<int8_t>(std::clamp(expected_q, -128.0f, 127.0f))) << "element " << i;
            const float expected_f = static_cast<float>(acc) * int8::accumulator_scale(x_scale, w_scales[m]);
            ASSERT_EQ(f.data<float>()[i], expected_f) << "element " << i;
            ASSERT_NEAR(f.data<float>()[i], ref.data<float>()[i], 2.0 * (depth + 2) * FLT_EPSILON * abs_sum)
                << "element " << i;
          }
  }
}

TEST(Int8Conv, ThreadsGiveIdenticalResults) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> d(-127, 127);
  for (const int64_t batch : {1, 3}) {  // one unit (rows split) and several (units split)
    Tensor x(DType::kInt8, {batch, 8, 10, 10}), w(DType::kInt8, {12, 4, 3, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
    for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
    const Node n = conv_node({{"group", int64_t{2}}, {"pads", Shape{1, 1, 1, 1}}, {"y_scale", 30.0f}}, 12);
    const Tensor one = run(n, {&x, &w})[0];
    set_num_threads(3);
    const Tensor three = run(n, {&x, &w})[0];
    set_num_threads(1);
    ASSERT_EQ(one.shape(), three.shape());
    EXPECT_EQ(0, std::memcmp(one.raw(), three.raw(), one.nbytes()));
  }
}

// ---- errors ----

TEST(Int8Conv, ErrorsNameTheNode) {
  const Tensor x = i8({1, 1, 1, 2}, {1, 2}), w = i8({2, 1, 1, 1}, {1, 1});
  const Tensor xf = testing::f32({1, 1, 1, 2}, {1, 2});
  auto message = [&](const Node& n, const std::vector<const Tensor*>& in) -> std::string {
    try {
      run(n, in);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const Node ok = conv_node({}, 2);
  EXPECT_NE(message(ok, {&xf, &w}).find("node 'test_Int8Conv' (octet.Int8Conv)"), std::string::npos);
  EXPECT_NE(message(ok, {&xf, &w}).find("X has dtype float32"), std::string::npos);
  const Tensor b64 = testing::i64({2}, {1, 1});
  EXPECT_NE(message(conv_node({}, 2, 3), {&x, &w, &b64}).find("B has dtype int64"), std::string::npos);
  EXPECT_NE(message(conv_node({}, 3), {&x, &w}).find("w_scales has 3 values but there are 2 output channels"),
            std::string::npos);
  const Tensor w128 = i8({2, 1, 1, 1}, {1, -128});
  EXPECT_NE(message(ok, {&x, &w128}).find("[-127, 127]"), std::string::npos);
  Node no_y = conv_node({}, 2);
  no_y.attributes.erase("y_scale");
  EXPECT_NE(message(no_y, {&x, &w}).find("y_scale is missing"), std::string::npos);
  EXPECT_NE(message(conv_node({{"y_scale", 0.0f}}, 2), {&x, &w}).find("y_scale must be finite and > 0"),
            std::string::npos);
  EXPECT_NE(message(conv_node({{"activation", std::string("gelu")}}, 2), {&x, &w}).find("activation"),
            std::string::npos);
  EXPECT_NE(message(conv_node({{"output_dtype", std::string("uint8")}}, 2), {&x, &w}).find("output_dtype"),
            std::string::npos);
  EXPECT_NE(message(conv_node({{"activation", std::string("clip")}, {"clip_min", 1.0f}, {"clip_max", 0.0f}}, 2),
                    {&x, &w}).find("do not form a range"),
            std::string::npos);
}

// A residual Z (input 3): the int8 convolution output C, then Int8Add(C, Z) with the
// "sum_" attributes: fl(C * 1) + fl(Z * 0.5), rounded half to even, relu, saturated.
TEST(Int8Conv, ResidualSumIsAnInt8AddOfTheOutput) {
  const Tensor x = i8({1, 1, 1, 6}, {1, 3, 5, -7, 100, 2}), w = i8({1, 1, 1, 1}, {1});
  const Tensor z = i8({1, 1, 1, 6}, {1, 1, -2, -20, 127, -3});
  Node n = conv_node({{"sum_a_scale", 1.0f}, {"sum_b_scale", 0.5f}, {"sum_y_scale", 1.0f},
                      {"sum_activation", std::string("relu")}}, 1, 4);
  n.inputs[2] = "";  // no bias
  auto out = run(n, {&x, &w, nullptr, &z});
  ASSERT_EQ(out[0].dtype(), DType::kInt8);
  // 1.5 -> 2, 3.5 -> 4, 4, -17 -> 0 (relu), 163.5 -> 127, 0.5 -> 0.
  expect_values(out[0], {1, 1, 1, 6}, {2, 4, 4, 0, 127, 0}, 0);
  // A float sum output: the same sum, unrounded.
  n.attributes["sum_output_dtype"] = std::string("float32");
  expect_values(run(n, {&x, &w, nullptr, &z})[0], {1, 1, 1, 6}, {1.5f, 3.5f, 4.0f, 0.0f, 163.5f, 0.5f}, 0);
}

TEST(Int8Conv, ResidualErrorsNameTheProblem) {
  const Tensor x = i8({1, 1, 1, 2}, {1, 2}), w = i8({1, 1, 1, 1}, {1});
  const Tensor z_wrong = i8({1, 1, 1, 3}, {0, 0, 0}), z = i8({1, 1, 1, 2}, {0, 0});
  auto message = [&](const Node& n, const Tensor& zt) {
    try {
      run(n, {&x, &w, nullptr, &zt});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Node n = conv_node({{"sum_a_scale", 1.0f}, {"sum_b_scale", 1.0f}, {"sum_y_scale", 1.0f}}, 1, 4);
  n.inputs[2] = "";
  EXPECT_NE(message(n, z_wrong).find("must have the convolution's output shape"), std::string::npos);
  Node no_sum_scale = n;
  no_sum_scale.attributes.erase("sum_y_scale");
  EXPECT_NE(message(no_sum_scale, z).find("sum_y_scale is missing"), std::string::npos);
  Node float_conv = n;
  float_conv.attributes["output_dtype"] = std::string("float32");
  EXPECT_NE(message(float_conv, z).find("output_dtype to be int8"), std::string::npos);
}

}  // namespace
}  // namespace octet
