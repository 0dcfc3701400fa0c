#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::failure;
using testing::f32;
using testing::make_node;
using testing::run_node;

// ---- BatchNormalization ----

TEST(BatchNormalization, PerChannel) {
  const Tensor x = f32({1, 2, 1, 2}, {1, 2, 3, 4});
  const Tensor scale = f32({2}, {1, 2}), bias = f32({2}, {0, 1}), mean = f32({2}, {1, 2}), var = f32({2}, {4, 0.25f});
  auto out = run_node(make_node("BatchNormalization", 5, 1, {{"epsilon", 0.0f}}), {&x, &scale, &bias, &mean, &var});
  expect_values(out[0], {1, 2, 1, 2}, {0, 0.5, 5, 9});
}

TEST(BatchNormalization, DefaultEpsilon) {
  // ONNX's batchnorm example.
  const Tensor x = f32({1, 2, 1, 3}, {-1, 0, 1, 2, 3, 4});
  const Tensor scale = f32({2}, {1, 1.5f}), bias = f32({2}, {0, 1}), mean = f32({2}, {0, 3}), var = f32({2}, {1, 1.5f});
  auto out = run_node(make_node("BatchNormalization", 5), {&x, &scale, &bias, &mean, &var});
  expect_values(out[0], {1, 2, 1, 3}, {-0.999995, 0, 0.999995, -0.22474074, 1, 2.2247407});
}

TEST(BatchNormalization, NonSpatialBeforeOpset9) {
  const Tensor x = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor scale = f32({2, 2}, {1, 2, 3, 4}), bias = f32({2, 2}, {0, 0, 1, 1});
  const Tensor mean = f32({2, 2}, {1, 1, 1, 1}), var = f32({2, 2}, {1, 1, 1, 1});
  auto out = run_node(make_node("BatchNormalization", 5, 1, {{"spatial", int64_t{0}}, {"epsilon", 0.0f}}),
                      {&x, &scale, &bias, &mean, &var}, 7);
  expect_values(out[0], {2, 2, 2}, {0, 2, 7, 13, 4, 10, 19, 29});
}

TEST(BatchNormalization, TrainingModeIsUnsupported) {
  const Tensor x = f32({1, 1, 1}, {1}), p = f32({1}, {1});
  const std::string message = failure<UnsupportedError>(
      make_node("BatchNormalization", 5, 3, {{"training_mode", int64_t{1}}}), {&x, &p, &p, &p, &p});
  EXPECT_NE(message.find("training_mode"), std::string::npos) << message;
}

TEST(BatchNormalization, ChannelMismatchNamesTheNode) {
  const Tensor x = f32({1, 3, 1}, {1, 2, 3}), p = f32({2}, {1, 1});
  const std::string message = failure(make_node("BatchNormalization", 5), {&x, &p, &p, &p, &p});
  EXPECT_NE(message.find("test_BatchNormalization"), std::string::npos) << message;
  EXPECT_NE(message.find("channels"), std::string::npos) << message;
}

// ---- Softmax ----

TEST(Softmax, DefaultLastAxis) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 1, 1, 1});
  auto out = run_node(make_node("Softmax", 1), {&x});
  expect_values(out[0], {2, 3}, {0.09003057, 0.24472847, 0.66524096, 1.0 / 3, 1.0 / 3, 1.0 / 3});
}

TEST(Softmax, LargeNumbersAreStable) {
  const Tensor x = f32({1, 3}, {1000, 1001, 1002});
  expect_values(run_node(make_node("Softmax", 1), {&x})[0], {1, 3}, {0.09003057, 0.24472847, 0.66524096});
}

TEST(Softmax, AxisBeforeAndFromOpset13) {
  const Tensor x = f32({1, 2, 2}, {1, 2, 3, 4});
  const Node node = make_node("Softmax", 1, 1, {{"axis", int64_t{1}}});
  // Opset 13: along axis 1 only, i.e. over the pairs (1, 3) and (2, 4).
  expect_values(run_node(node, {&x}, 13)[0], {1, 2, 2}, {0.11920292, 0.11920292, 0.88079708, 0.88079708});
  // Opset 11: coerced to [1, 4], softmax over all four.
  expect_values(run_node(node, {&x}, 11)[0], {1, 2, 2}, {0.0320586, 0.08714432, 0.23688282, 0.64391426});
  // Opset 11 defaults to axis 1 too.
  expect_values(run_node(make_node("Softmax", 1), {&x}, 11)[0], {1, 2, 2}, {0.0320586, 0.08714432, 0.23688282, 0.64391426});
}

TEST(Softmax, AxisZeroAndNegative) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  expect_values(run_node(make_node("Softmax", 1, 1, {{"axis", int64_t{0}}}), {&x})[0], {2, 2},
                {0.11920292, 0.11920292, 0.88079708, 0.88079708});
  expect_values(run_node(make_node("Softmax", 1, 1, {{"axis", int64_t{-2}}}), {&x})[0], {2, 2},
                {0.11920292, 0.11920292, 0.88079708, 0.88079708});
}

TEST(Softmax, AxisOutOfRangeFails) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  const std::string message = failure(make_node("Softmax", 1, 1, {{"axis", int64_t{2}}}), {&x});
  EXPECT_NE(message.find("test_Softmax"), std::string::npos) << message;
  EXPECT_NE(message.find("axis"), std::string::npos) << message;
}

// ---- ReduceMean ----

// ONNX's ReduceMean example, [3, 2, 2].
const Tensor kData = f32({3, 2, 2}, {5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2});

TEST(ReduceMean, OneAxisKeepdims) {
  auto out = run_node(make_node("ReduceMean", 1, 1, {{"axes", Shape{1}}}), {&kData});
  expect_values(out[0], {3, 1, 2}, {12.5, 1.5, 35, 1.5, 57.5, 1.5});
  auto negative = run_node(make_node("ReduceMean", 1, 1, {{"axes", Shape{-2}}}), {&kData});
  expect_values(negative[0], {3, 1, 2}, {12.5, 1.5, 35, 1.5, 57.5, 1.5});
}

TEST(ReduceMean, DropsReducedDims) {
  auto out = run_node(make_node("ReduceMean", 1, 1, {{"axes", Shape{1}}, {"keepdims", int64_t{0}}}), {&kData});
  expect_values(out[0], {3, 2}, {12.5, 1.5, 35, 1.5, 57.5, 1.5});
}

TEST(ReduceMean, SeveralAxes) {
  auto out = run_node(make_node("ReduceMean", 1, 1, {{"axes", Shape{0, 2}}}), {&kData});
  expect_values(out[0], {1, 2, 1}, {15.5, 21});
}

TEST(ReduceMean, NoAxesReducesAll) {
  expect_values(run_node(make_node("ReduceMean", 1), {&kData})[0], {1, 1, 1}, {18.25});
  expect_values(run_node(make_node("ReduceMean", 1, 1, {{"keepdims", int64_t{0}}}), {&kData})[0], {}, {18.25});
}

TEST(ReduceMean, InvalidAxesFail) {
  EXPECT_NE(failure(make_node("ReduceMean", 1, 1, {{"axes", Shape{1, -2}}}), {&kData}).find("repeat"), std::string::npos);
  EXPECT_NE(failure(make_node("ReduceMean", 1, 1, {{"axes", Shape{3}}}), {&kData}).find("test_ReduceMean"), std::string::npos);
}

TEST(ReduceMean, UnsupportedDtype) {
  const Tensor x = testing::make_tensor(DType::kInt8, {2}, std::vector<int>{1, 2});
  EXPECT_NE(failure<UnsupportedError>(make_node("ReduceMean", 1), {&x}).find("int8"), std::string::npos);
}

}  // namespace
}  // namespace octet
