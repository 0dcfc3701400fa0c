#include "octet/parallel.h"
#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::failure;
using testing::f32;
using testing::make_node;
using testing::run_node;

// A [2x3] * B [3x2] = [[10, 6], [22, 12]]
const Tensor kA = f32({2, 3}, {1, 2, 3, 4, 5, 6});
const Tensor kB = f32({3, 2}, {1, -1, 0, 2, 3, 1});
const std::vector<double> kAB{10, 6, 22, 12};

// ---- Gemm ----

TEST(Gemm, WithoutC) {
  expect_values(run_node(make_node("Gemm", 2), {&kA, &kB})[0], {2, 2}, kAB);
}

TEST(Gemm, Transposes) {
  const Tensor a_t = f32({3, 2}, {1, 4, 2, 5, 3, 6}), b_t = f32({2, 3}, {1, 0, 3, -1, 2, 1});
  expect_values(run_node(make_node("Gemm", 2, 1, {{"transA", int64_t{1}}}), {&a_t, &kB})[0], {2, 2}, kAB);
  expect_values(run_node(make_node("Gemm", 2, 1, {{"transB", int64_t{1}}}), {&kA, &b_t})[0], {2, 2}, kAB);
  expect_values(run_node(make_node("Gemm", 2, 1, {{"transA", int64_t{1}}, {"transB", int64_t{1}}}), {&a_t, &b_t})[0],
                {2, 2}, kAB);
}

TEST(Gemm, AlphaBetaAndScalarC) {
  const Tensor c = f32({}, {1});
  auto out = run_node(make_node("Gemm", 3, 1, {{"alpha", 0.5f}, {"beta", 2.0f}}), {&kA, &kB, &c});
  expect_values(out[0], {2, 2}, {7, 5, 13, 8});
}

TEST(Gemm, BroadcastC) {
  const Tensor row = f32({2}, {1, -1}), column = f32({2, 1}, {1, -1}), full = f32({2, 2}, {1, 2, 3, 4}),
               single = f32({1}, {3}), one_by_one = f32({1, 1}, {3});
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, &row})[0], {2, 2}, {11, 5, 23, 11});
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, &column})[0], {2, 2}, {11, 7, 21, 11});
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, &full})[0], {2, 2}, {11, 8, 25, 16});
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, &single})[0], {2, 2}, {13, 9, 25, 15});
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, &one_by_one})[0], {2, 2}, {13, 9, 25, 15});
}

TEST(Gemm, OmittedC) {
  expect_values(run_node(make_node("Gemm", 3), {&kA, &kB, nullptr})[0], {2, 2}, kAB);
}

TEST(Gemm, InvalidShapesFail) {
  const Tensor square = f32({2, 2}, {1, 2, 3, 4}), bad_c = f32({3}, {1, 2, 3}), cube = f32({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  const std::string message = failure(make_node("Gemm", 2), {&kA, &square});
  EXPECT_NE(message.find("test_Gemm"), std::string::npos) << message;
  EXPECT_NE(message.find("inner dims"), std::string::npos) << message;
  EXPECT_NE(failure(make_node("Gemm", 3), {&kA, &kB, &bad_c}).find("C [3]"), std::string::npos);
  EXPECT_NE(failure(make_node("Gemm", 2), {&cube, &kB}).find("matrices"), std::string::npos);
  const Tensor b64 = testing::make_tensor(DType::kFloat64, {3, 2}, std::vector<double>(6));
  EXPECT_NE(failure(make_node("Gemm", 2), {&kA, &b64}).find("dtype"), std::string::npos);
}

// ---- MatMul ----

TEST(MatMul, Matrices) {
  expect_values(run_node(make_node("MatMul", 2), {&kA, &kB})[0], {2, 2}, kAB);
}

TEST(MatMul, VectorOperands) {
  const Tensor row = f32({3}, {1, 2, 3}), column = f32({3}, {1, 0, -1});
  expect_values(run_node(make_node("MatMul", 2), {&row, &kB})[0], {2}, {10, 6});
  expect_values(run_node(make_node("MatMul", 2), {&kA, &column})[0], {2}, {-2, -2});
  expect_values(run_node(make_node("MatMul", 2), {&row, &column})[0], {}, {-2});
}

TEST(MatMul, BroadcastBatchDims) {
  // [2, 1, 1, 3] x [3, 3, 2] -> [2, 3, 1, 2]
  const Tensor a = f32({2, 1, 1, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor b = f32({3, 3, 2}, {-1, 0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, -1, 0});
  const std::vector<double> expected{-1, 2, 1, 4, -1, 2, -4, 8, 4, 16, -4, 8};
  expect_values(run_node(make_node("MatMul", 2), {&a, &b})[0], {2, 3, 1, 2}, expected);
  set_num_threads(4);
  auto threaded = run_node(make_node("MatMul", 2), {&a, &b});
  set_num_threads(1);
  expect_values(threaded[0], {2, 3, 1, 2}, expected);
}

TEST(MatMul, Int64) {
  const Tensor a = testing::i64({1, 2}, {2, 3}), b = testing::i64({2, 1}, {4, 5});
  auto out = run_node(make_node("MatMul", 2), {&a, &b});
  EXPECT_EQ(out[0].dtype(), DType::kInt64);
  expect_values(out[0], {1, 1}, {23});
}

TEST(MatMul, InvalidShapesFail) {
  const Tensor square = f32({2, 2}, {1, 2, 3, 4});
  const std::string message = failure(make_node("MatMul", 2), {&kA, &square});
  EXPECT_NE(message.find("test_MatMul"), std::string::npos) << message;
  const Tensor a = f32({2, 2, 3}, std::vector<float>(12)), b = f32({3, 3, 2}, std::vector<float>(18));
  EXPECT_NE(failure(make_node("MatMul", 2), {&a, &b}).find("broadcast"), std::string::npos);
  const Tensor scalar = f32({}, {1});
  EXPECT_NE(failure(make_node("MatMul", 2), {&scalar, &kB}).find("scalar"), std::string::npos);
}

}  // namespace
}  // namespace octet
