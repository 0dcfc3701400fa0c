#include <algorithm>
#include <functional>
#include <limits>

#include "support/kernel_harness.h"

namespace octet::testing {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// Int64 tensor stored bit-exactly (the harness's i64() goes through double, which
// cannot hold INT64_MAX).
Tensor exact_i64(Shape shape, const std::vector<int64_t>& values) {
  Tensor t(DType::kInt64, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor iota_f32(Shape shape) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return f32(std::move(shape), v);
}

void expect_error_mentions(const std::function<void()>& run, const std::vector<std::string>& parts) {
  try {
    run();
    ADD_FAILURE() << "expected an octet::Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

// --- Concat ---

TEST(Concat, NegativeAxis) {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  const Tensor b = f32({2, 1}, {5, 6});
  const auto out = run_node(make_node("Concat", 2, 1, {{"axis", int64_t{-1}}}), {&a, &b});
  expect_values(out[0], {2, 3}, {1, 2, 5, 3, 4, 6});
}

TEST(Concat, AxisZeroWithEmptyInputAndInt64) {
  const Tensor a = i64({1, 2}, {1, 2});
  const Tensor empty(DType::kInt64, {0, 2});
  const Tensor b = i64({2, 2}, {3, 4, 5, 6});
  const auto out = run_node(make_node("Concat", 3, 1, {{"axis", int64_t{0}}}), {&a, &empty, &b});
  EXPECT_EQ(out[0].dtype(), DType::kInt64);
  expect_values(out[0], {3, 2}, {1, 2, 3, 4, 5, 6});
}

TEST(Concat, MismatchedShapesFail) {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  const Tensor b = f32({3, 1}, {5, 6, 7});
  expect_error_mentions([&] { run_node(make_node("Concat", 2, 1, {{"axis", int64_t{1}}}), {&a, &b}); },
                        {"test_Concat", "[3,1]"});
}

// --- Split ---

TEST(Split, EqualParts) {
  const Tensor x = iota_f32({2, 4});
  const auto out = run_node(make_node("Split", 1, 2, {{"axis", int64_t{1}}}), {&x});
  expect_values(out[0], {2, 2}, {0, 1, 4, 5});
  expect_values(out[1], {2, 2}, {2, 3, 6, 7});
}

TEST(Split, PartsFromInputIncludingZeroSized) {
  const Tensor x = iota_f32({5});
  const Tensor parts = i64({3}, {2, 0, 3});
  const auto out = run_node(make_node("Split", 2, 3), {&x, &parts});
  expect_values(out[0], {2}, {0, 1});
  expect_values(out[1], {0}, {});
  expect_values(out[2], {3}, {2, 3, 4});
}

TEST(Split, PartsFromAttributeBeforeOpset13) {
  const Tensor x = iota_f32({3, 2});
  const Node node = make_node("Split", 1, 2, {{"axis", int64_t{-2}}, {"split", std::vector<int64_t>{1, 2}}});
  const auto out = run_node(node, {&x}, 11);
  expect_values(out[0], {1, 2}, {0, 1});
  expect_values(out[1], {2, 2}, {2, 3, 4, 5});
}

TEST(Split, UnevenOrWrongPartsFail) {
  const Tensor x = iota_f32({5});
  EXPECT_THROW(run_node(make_node("Split", 1, 2), {&x}), Error);
  const Tensor parts = i64({2}, {2, 2});
  EXPECT_THROW(run_node(make_node("Split", 2, 2), {&x, &parts}), Error);
}

// --- Slice ---

TEST(Slice, NegativeStepsWithClampedEnds) {
  const Tensor x = iota_f32({10});
  const Tensor starts = exact_i64({1}, {kMax}), ends = exact_i64({1}, {kMin}), axes = i64({1}, {0}), steps = i64({1}, {-3});
  expect_values(run_node(make_node("Slice", 5), {&x, &starts, &ends, &axes, &steps})[0], {4}, {9, 6, 3, 0});
}

TEST(Slice, NegativeStepsOnTwoAxes) {
  const Tensor x = iota_f32({3, 4});
  const Tensor starts = i64({2}, {2, -1}), ends = exact_i64({2}, {-100, kMin});
  const Tensor axes = i64({2}, {0, 1}), steps = i64({2}, {-2, -2});
  expect_values(run_node(make_node("Slice", 5), {&x, &starts, &ends, &axes, &steps})[0], {2, 2}, {11, 9, 3, 1});
}

TEST(Slice, OutOfRangeEndIsClampedAndAxesMayBeNegative) {
  const Tensor x = iota_f32({3, 4});
  const Tensor starts = i64({1}, {1}), ends = i64({1}, {1000}), axes = i64({1}, {-1});
  expect_values(run_node(make_node("Slice", 4), {&x, &starts, &ends, &axes})[0], {3, 3},
                {1, 2, 3, 5, 6, 7, 9, 10, 11});
}

TEST(Slice, DefaultAxesInt32BoundsAndEmptyResult) {
  const Tensor x = iota_f32({3, 4});
  const Tensor starts = make_tensor<int32_t>(DType::kInt32, {2}, {1, 3});
  const Tensor ends = make_tensor<int32_t>(DType::kInt32, {2}, {-1, 1});
  expect_values(run_node(make_node("Slice", 3), {&x, &starts, &ends})[0], {1, 0}, {});
}

TEST(Slice, AttributesBeforeOpset10) {
  const Tensor x = iota_f32({3, 4});
  const Node node = make_node("Slice", 1, 1,
                              {{"starts", std::vector<int64_t>{0, -2}}, {"ends", std::vector<int64_t>{2, kMax}},
                               {"axes", std::vector<int64_t>{0, 1}}});
  expect_values(run_node(node, {&x}, 9)[0], {2, 2}, {2, 3, 6, 7});
}

TEST(Slice, ZeroStepFails) {
  const Tensor x = iota_f32({4});
  const Tensor starts = i64({1}, {0}), ends = i64({1}, {4}), axes = i64({1}, {0}), steps = i64({1}, {0});
  EXPECT_THROW(run_node(make_node("Slice", 5), {&x, &starts, &ends, &axes, &steps}), Error);
}

// --- Gather ---

TEST(Gather, NegativeIndicesOnAxis0) {
  const Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor indices = i64({2}, {-1, 0});
  expect_values(run_node(make_node("Gather", 2), {&data, &indices})[0], {2, 2}, {5, 6, 1, 2});
}

TEST(Gather, Int32IndicesOnAxis1WithInt8Data) {
  const Tensor data = make_tensor<int>(DType::kInt8, {3, 2}, {1, -2, 3, -4, 5, -6});
  const Tensor indices = make_tensor<int>(DType::kInt32, {2, 1}, {1, -2});
  const auto out = run_node(make_node("Gather", 2, 1, {{"axis", int64_t{1}}}), {&data, &indices});
  EXPECT_EQ(out[0].dtype(), DType::kInt8);
  expect_values(out[0], {3, 2, 1}, {-2, 1, -4, 3, -6, 5});
}

TEST(Gather, ScalarIndexDropsTheAxis) {
  const Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor index = i64({}, {1});
  expect_values(run_node(make_node("Gather", 2), {&data, &index})[0], {2}, {3, 4});
}

TEST(Gather, IndexOutOfRangeNamesTheNode) {
  const Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor too_big = i64({2}, {0, 3});
  const Tensor too_small = i64({1}, {-4});
  expect_error_mentions([&] { run_node(make_node("Gather", 2), {&data, &too_big}); }, {"test_Gather", "index 3"});
  expect_error_mentions([&] { run_node(make_node("Gather", 2), {&data, &too_small}); }, {"test_Gather", "index -4"});
}

// --- Transpose ---

TEST(Transpose, DefaultReversesAxes) {
  const Tensor x = iota_f32({2, 3});
  expect_values(run_node(make_node("Transpose", 1), {&x})[0], {3, 2}, {0, 3, 1, 4, 2, 5});
}

TEST(Transpose, ExplicitPermutation) {
  const Tensor x = iota_f32({2, 3, 2});
  const auto out = run_node(make_node("Transpose", 1, 1, {{"perm", std::vector<int64_t>{1, 2, 0}}}), {&x});
  // out[i][j][k] = x[k][i][j]
  expect_values(out[0], {3, 2, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
}

TEST(Transpose, MovingOnlyUnitAxesIsAViewOfTheInput) {
  const Tensor x = iota_f32({2, 1, 2, 3});  // NCHW with one channel
  const auto to_nhwc = run_node(make_node("Transpose", 1, 1, {{"perm", kNchwToNhwc}}), {&x});
  expect_values(to_nhwc[0], {2, 2, 3, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_EQ(to_nhwc[0].raw(), x.raw());
  const Tensor wide = iota_f32({2, 2, 2, 3});  // more than one channel: a copy
  const auto copied = run_node(make_node("Transpose", 1, 1, {{"perm", kNchwToNhwc}}), {&wide});
  EXPECT_NE(copied[0].raw(), wide.raw());
  EXPECT_EQ(copied[0].data<float>()[1], 6.0f);
}

TEST(Transpose, InvalidPermutationFails) {
  const Tensor x = iota_f32({2, 3});
  EXPECT_THROW(run_node(make_node("Transpose", 1, 1, {{"perm", std::vector<int64_t>{0, 0}}}), {&x}), Error);
}

// --- Pad ---

TEST(Pad, ConstantValueInput) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  const Tensor pads = i64({4}, {0, 1, 1, 0});
  const Tensor value = f32({}, {9});
  expect_values(run_node(make_node("Pad", 3), {&x, &pads, &value})[0], {3, 3}, {9, 1, 2, 9, 3, 4, 9, 9, 9});
}

TEST(Pad, Reflect) {
  const Tensor x = f32({3, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  const Tensor pads = i64({4}, {0, 2, 0, 0});
  expect_values(run_node(make_node("Pad", 2, 1, {{"mode", std::string("reflect")}}), {&x, &pads})[0], {3, 4},
                {1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7});
  const Tensor row = f32({3}, {1, 2, 3});
  const Tensor wide = i64({2}, {2, 2});
  expect_values(run_node(make_node("Pad", 2, 1, {{"mode", std::string("reflect")}}), {&row, &wide})[0], {7},
                {3, 2, 1, 2, 3, 2, 1});
}

TEST(Pad, EdgeOnBothAxes) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  const Tensor pads = i64({4}, {1, 1, 1, 1});
  expect_values(run_node(make_node("Pad", 2, 1, {{"mode", std::string("edge")}}), {&x, &pads})[0], {4, 4},
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(Pad, NegativePadsCropBeforePadding) {
  const Tensor x = f32({4}, {1, 2, 3, 4});
  const Tensor pads = i64({2}, {-1, 2});
  expect_values(run_node(make_node("Pad", 2), {&x, &pads})[0], {5}, {2, 3, 4, 0, 0});
  expect_values(run_node(make_node("Pad", 2, 1, {{"mode", std::string("reflect")}}), {&x, &pads})[0], {5},
                {2, 3, 4, 3, 2});
}

TEST(Pad, AttributesBeforeOpset11) {
  const Tensor x = make_tensor<int>(DType::kUInt8, {2}, {7, 8});
  const Node node = make_node("Pad", 1, 1, {{"pads", std::vector<int64_t>{1, 1}}, {"value", 5.0f}});
  const auto out = run_node(node, {&x}, 10);
  EXPECT_EQ(out[0].dtype(), DType::kUInt8);
  expect_values(out[0], {4}, {5, 7, 8, 5});
}

TEST(Pad, BadPadsFail) {
  const Tensor x = f32({2}, {1, 2});
  const Tensor wrong_length = i64({1}, {1});
  const Tensor over_crop = i64({2}, {-3, 1});
  EXPECT_THROW(run_node(make_node("Pad", 2), {&x, &wrong_length}), Error);
  EXPECT_THROW(run_node(make_node("Pad", 2), {&x, &over_crop}), Error);
  EXPECT_THROW(run_node(make_node("Pad", 2, 1, {{"mode", std::string("wrap")}}), {&x, &wrong_length}), UnsupportedError);
}

}  // namespace
}  // namespace octet::testing
