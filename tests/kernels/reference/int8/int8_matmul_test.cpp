// Int8MatMul (domain "octet"): requantization, per-column scales, bias, batch dims,
// float output, agreement with an exact product and the FP32 MatMul, and errors.
#include <cfloat>
#include <cmath>
#include <random>

#include "kernels/reference/int8/requantize.h"
#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::make_node;
using testing::make_tensor;
using testing::run_node;
using testing::i32;
using testing::i8;


Node matmul_node(std::map<std::string, Attribute> attrs, size_t columns, size_t inputs = 2) {
  return testing::unit_scale_int8_node("Int8MatMul", std::move(attrs), columns, inputs);
}

std::vector<Tensor> run(const Node& n, const std::vector<const Tensor*>& inputs) { return run_node(n, inputs, 1); }

TEST(Int8MatMul, RequantizeRoundsHalfToEven) {
  // A column of 7 rows times W = [[1]] with M = 0.5.
  const Tensor a = i8({7, 1}, {1, 3, -1, -3, 5, -5, 7}), w = i8({1, 1}, {1});
  auto out = run(matmul_node({{"x_scale", 0.5f}}, 1), {&a, &w});
  ASSERT_EQ(out[0].dtype(), DType::kInt8);
  expect_values(out[0], {7, 1}, {0, 2, 0, -2, 2, -2, 4}, 0);
}

TEST(Int8MatMul, ProductPerColumnScalesAndBias) {
  // [1 2; 3 4] x [1 -1; 2 1] = [5 1; 11 1], plus bias [1, -10].
  const Tensor a = i8({2, 2}, {1, 2, 3, 4}), w = i8({2, 2}, {1, -1, 2, 1}), b = i32({2}, {1, -10});
  auto plain = run(matmul_node({}, 2, 3), {&a, &w, &b});
  expect_values(plain[0], {2, 2}, {6, -9, 12, -9}, 0);
  // Column 1 scaled by 0.5: -9 * 0.5 = -4.5 -> -4 (half to even).
  auto scaled = run(matmul_node({{"w_scales", std::vector<float>{1.0f, 0.5f}}}, 2, 3), {&a, &w, &b});
  expect_values(scaled[0], {2, 2}, {6, -4, 12, -4}, 0);
}

TEST(Int8MatMul, SaturatesAtBothEnds) {
  const Tensor a = i8({1, 2}, {127, -128}), w = i8({2, 2}, {127, -127, -127, 127});
  auto out = run(matmul_node({}, 2), {&a, &w});
  expect_values(out[0], {1, 2}, {127, -128}, 0);
}

TEST(Int8MatMul, ReluAndClip) {
  const Tensor a = i8({4, 1}, {-9, -1, 2, 60}), w = i8({1, 1}, {1});
  expect_values(run(matmul_node({{"activation", std::string("relu")}}, 1), {&a, &w})[0], {4, 1}, {0, 0, 2, 60}, 0);
  // y_scale 2 (M = 0.5): bounds round_half_even(-5 / 2) = -2, round_half_even(21 / 2) = 10.
  auto clip = run(matmul_node({{"activation", std::string("clip")}, {"clip_min", -5.0f}, {"clip_max", 21.0f},
                               {"y_scale", 2.0f}}, 1),
                  {&a, &w});
  expect_values(clip[0], {4, 1}, {-2, 0, 1, 10}, 0);
}

TEST(Int8MatMul, BatchDimsAndVector) {
  const Tensor a = i8({2, 1, 2}, {1, 2, -3, 4}), w = i8({2, 3}, {1, 0, -1, 0, 1, 1});
  expect_values(run(matmul_node({}, 3), {&a, &w})[0], {2, 1, 3}, {1, 2, 1, -3, 4, 7}, 0);
  const Tensor v = i8({2}, {1, 2});
  expect_values(run(matmul_node({}, 3), {&v, &w})[0], {3}, {1, 2, 1}, 0);
}

TEST(Int8MatMul, FloatOutput) {
  const Tensor a = i8({1, 2}, {3, -5}), w = i8({2, 2}, {1, 1, 1, -1}), b = i32({2}, {2, 0});
  Node n = matmul_node({{"x_scale", 0.5f}, {"w_scales", std::vector<float>{0.5f, 0.25f}},
                        {"output_dtype", std::string("float32")}}, 2, 3);
  n.attributes.erase("y_scale");
  // Accumulators 3 - 5 + 2 = 0 and 3 + 5 = 8, times 0.25 and 0.125.
  auto out = run(n, {&a, &w, &b});
  ASSERT_EQ(out[0].dtype(), DType::kFloat32);
  expect_values(out[0], {1, 2}, {0, 1}, 0);
  const Tensor b2 = i32({2}, {-2, 0});
  n.attributes["activation"] = std::string("relu");
  expect_values(run(n, {&a, &w, &b2})[0], {1, 2}, {0, 1}, 0);  // -4 * 0.25 = -1 -> 0
  n.attributes["activation"] = std::string("none");
  expect_values(run(n, {&a, &w, &b2})[0], {1, 2}, {-1, 1}, 0);
}

TEST(Int8MatMul, RandomizedMatchesSpecAndFp32MatMul) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> xd(-128, 127), wd(-127, 127), bd(-50000, 50000);
  std::uniform_real_distribution<float> sd(0.001f, 0.02f);
  const int64_t rows = 5, k = 300, n = 17;
  Tensor a(DType::kInt8, {rows, k}), w(DType::kInt8, {k, n}), b(DType::kInt32, {n});
  for (int64_t i = 0; i < a.numel(); ++i) a.data<int8_t>()[i] = static_cast<int8_t>(i % 3 == 0 ? 0 : xd(rng));
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(rng));
  for (int64_t i = 0; i < n; ++i) b.data<int32_t>()[i] = bd(rng);
  const float x_scale = 0.05f, y_scale = 2.5f;
  std::vector<float> w_scales(n);
  for (float& s : w_scales) s = sd(rng);
  Node node = matmul_node({{"x_scale", x_scale}, {"w_scales", w_scales}, {"y_scale", y_scale}}, n, 3);
  const Tensor q = run(node, {&a, &w, &b})[0];
  node.attributes["output_dtype"] = std::string("float32");
  const Tensor f = run(node, {&a, &w, &b})[0];

  Tensor af(DType::kFloat32, a.shape()), wf(DType::kFloat32, w.shape());
  for (int64_t i = 0; i < a.numel(); ++i) af.data<float>()[i] = a.data<int8_t>()[i] * x_scale;
  for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = w.data<int8_t>()[i] * w_scales[i % n];
  const Tensor ref = run_node(make_node("MatMul", 2), {&af, &wf}, 17)[0];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = b.data<int32_t>()[j];
      double abs_sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const int prod = a.data<int8_t>()[r * k + p] * w.data<int8_t>()[p * n + j];
        acc += prod;
        abs_sum += std::abs(prod) * (static_cast<double>(x_scale) * w_scales[j]);
      }
      const int64_t i = r * n + j;
      const float expected_q = std::nearbyint(static_cast<float>(acc) * int8::requant_multiplier(x_scale, w_scales[j], y_scale));
      ASSERT_EQ(q.data<int8_t>()[i], static_cast<int8_t>(std::clamp(expected_q, -128.0f, 127.0f))) << i;
      const float expected_f = static_cast<float>(acc) * int8::accumulator_scale(x_scale, w_scales[j]);
      ASSERT_EQ(f.data<float>()[i], expected_f) << i;
      const double bias_real = b.data<int32_t>()[j] * (static_cast<double>(x_scale) * w_scales[j]);
      ASSERT_NEAR(f.data<float>()[i], ref.data<float>()[i] + bias_real, 2.0 * (k + 2) * FLT_EPSILON * (abs_sum + std::abs(bias_real))) << i;
    }
}

TEST(Int8MatMul, Errors) {
  const Tensor a = i8({1, 2}, {1, 2}), w = i8({2, 2}, {1, 1, 1, 1});
  auto message = [&](const Node& n, const std::vector<const Tensor*>& in) -> std::string {
    try {
      run(n, in);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const Tensor af = testing::f32({1, 2}, {1, 2});
  const std::string dtype = message(matmul_node({}, 2), {&af, &w});
  EXPECT_NE(dtype.find("node 'test_Int8MatMul' (octet.Int8MatMul)"), std::string::npos) << dtype;
  EXPECT_NE(dtype.find("A has dtype float32"), std::string::npos) << dtype;
  EXPECT_NE(message(matmul_node({}, 1), {&a, &w}).find("w_scales has 1 values but there are 2 output channels"),
            std::string::npos);
  const Tensor w3 = i8({3, 2}, {1, 1, 1, 1, 1, 1});
  EXPECT_NE(message(matmul_node({}, 2), {&a, &w3}).find("inner dims differ"), std::string::npos);
  const Tensor b3 = i32({3}, {1, 1, 1});
  EXPECT_NE(message(matmul_node({}, 2, 3), {&a, &w, &b3}).find("B [3] must be [2]"), std::string::npos);
}

}  // namespace
}  // namespace octet
