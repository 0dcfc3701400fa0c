// onednn Gemm / MatMul / Int8MatMul against the reference kernels.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

class OnednnMatMulTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
};

TEST_F(OnednnMatMulTest, GemmMatchesReference) {
  std::mt19937 rng(1);
  struct Case {
    int64_t m, k, n;
    bool trans_b;
    float alpha, beta;
    Shape c_shape;  // {} with has_c false: no C
    bool has_c;
  };
  const std::vector<Case> cases{
      {1, 2048, 1000, true, 1.0f, 1.0f, {1000}, true},  // ResNet-50's classifier
      {4, 2048, 1000, true, 1.0f, 1.0f, {1, 1000}, true},
      {7, 33, 17, false, 1.0f, 1.0f, {17}, true},
      {5, 64, 32, true, 0.5f, 2.0f, {32}, true},
      {3, 16, 8, false, 1.5f, 0.25f, {}, true},  // scalar C
      {9, 128, 10, true, 1.0f, 1.0f, {}, false},
      {64, 256, 128, false, 1.0f, 0.0f, {1, 128}, true},
  };
  for (const Case& c : cases) {
    Node node = make_node("Gemm", c.has_c ? 3 : 2, 1,
                          {{"transB", int64_t{c.trans_b}}, {"alpha", c.alpha}, {"beta", c.beta}});
    const Tensor a = random_floats({c.m, c.k}, rng);
    const Tensor b = random_floats(c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n}, rng);
    const Tensor bias = random_floats(c.c_shape, rng);
    std::vector<const Tensor*> inputs{&a, &b};
    if (c.has_c) inputs.push_back(&bias);
    expect_close_fp32(run_with_constants("onednn", node, inputs, 17), run_node(node, inputs, 17)[0],
                      "Gemm " + std::to_string(c.m) + "x" + std::to_string(c.k) + "x" + std::to_string(c.n));
  }
}

TEST_F(OnednnMatMulTest, MatMulMatchesReference) {
  std::mt19937 rng(2);
  const std::vector<std::pair<Shape, Shape>> cases{
      {{8, 64}, {64, 32}}, {{2, 5, 48}, {48, 24}}, {{2, 3, 4, 40}, {40, 12}}, {{40}, {40, 12}}, {{1, 768}, {768, 3072}}};
  for (const auto& [a_shape, b_shape] : cases) {
    const Node node = make_node("MatMul", 2);
    const Tensor a = random_floats(a_shape, rng);
    const Tensor b = random_floats(b_shape, rng);
    expect_close_fp32(run_with_constants("onednn", node, {&a, &b}, 17), run_node(node, {&a, &b}, 17)[0],
                      "MatMul " + shape_str(a_shape) + " x " + shape_str(b_shape));
  }
}

TEST_F(OnednnMatMulTest, Int8MatMulMatchesReference) {
  OCTET_SKIP_WITHOUT_EXACT_INT8();
  std::mt19937 rng(3);
  const std::vector<std::pair<Shape, int64_t>> cases{
      {{1, 2048}, 1000}, {{4, 2048}, 1000}, {{16, 64}, 48}, {{2, 7, 96}, 33}, {{3, 2, 5, 40}, 16}, {{130}, 70}};
  Int8Mismatches tally;
  for (const auto& [a_shape, n] : cases)
    for (const char* output_dtype : {"int8", "float32"})
      for (const char* activation : {"none", "relu", "clip"})
        for (bool bias : {false, true}) {
          const int64_t k = a_shape.back();
          std::uniform_real_distribution<float> w_scale(0.001f, 0.01f);
          std::vector<float> w_scales;
          for (int64_t j = 0; j < n; ++j) w_scales.push_back(w_scale(rng));
          const float output_std = static_cast<float>(std::sqrt(double(k)) * 73 * 73 * 0.02 * 0.0055);
          Node node = make_node("Int8MatMul", bias ? 3 : 2, 1,
                                {{"x_scale", 0.02f}, {"w_scales", w_scales}, {"y_scale", output_std / 40.0f},
                                 {"output_dtype", std::string(output_dtype)}, {"activation", std::string(activation)},
                                 {"clip_min", -0.7f * output_std}, {"clip_max", 1.3f * output_std}});
          node.domain = "octet";
          const Tensor a = random_int8(a_shape, rng);
          const Tensor w = random_int8({k, n}, rng, -127, 127);
          const Tensor b = random_int32({n}, rng, -20000, 20000);
          std::vector<const Tensor*> inputs{&a, &w};
          if (bias) inputs.push_back(&b);
          expect_int8_kernel_match(run_with_constants("onednn", node, inputs, 1), run_node(node, inputs, 1)[0],
                                   "Int8MatMul " + shape_str(a_shape) + " x [" + std::to_string(k) + "," +
                                       std::to_string(n) + "] " + output_dtype + " " + activation,
                                   tally);
        }
  report_int8_mismatches(tally);
}

TEST_F(OnednnMatMulTest, DeclinesWhatItDoesNotHandle) {
  std::mt19937 rng(4);
  const Tensor a = random_floats({4, 8}, rng), b = random_floats({8, 6}, rng);
  const Tensor c_full = random_floats({4, 6}, rng), c_row = random_floats({6}, rng);
  EXPECT_TRUE(accepts("onednn", make_node("Gemm", 3), {&a, &b, &c_row}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("Gemm", 3), {&a, &b, &c_full}, 17));  // C differs per row
  EXPECT_FALSE(accepts("onednn", make_node("Gemm", 2, 1, {{"transA", int64_t{1}}}), {&a, &b}, 17));
  EXPECT_FALSE(accepts("onednn", make_node("Gemm", 3), {&a, &b, &c_row}, 17, /*first_constant=*/2));  // B not constant
  EXPECT_FALSE(accepts("onednn", make_node("MatMul", 2), {&a, &b}, 17, /*first_constant=*/2));
  const Tensor b3 = random_floats({2, 8, 6}, rng);
  EXPECT_FALSE(accepts("onednn", make_node("MatMul", 2), {&a, &b3}, 17));  // batched B
}

}  // namespace
}  // namespace octet::testing
