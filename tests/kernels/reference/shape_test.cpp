#include "support/kernel_harness.h"

namespace octet::testing {
namespace {

std::vector<double> iota_values(int64_t n) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

Tensor iota_f32(Shape shape) {
  const auto v = iota_values(shape_numel(shape));
  return f32(std::move(shape), std::vector<float>(v.begin(), v.end()));
}

TEST(Flatten, DefaultAxisKeepsFirstDimension) {
  const Tensor x = iota_f32({2, 3, 4});
  const auto out = run_node(make_node("Flatten", 1), {&x});
  expect_values(out[0], {2, 12}, iota_values(24));
}

TEST(Flatten, AxisZeroAndNegativeAxis) {
  const Tensor x = iota_f32({2, 3, 4});
  expect_values(run_node(make_node("Flatten", 1, 1, {{"axis", int64_t{0}}}), {&x})[0], {1, 24}, iota_values(24));
  expect_values(run_node(make_node("Flatten", 1, 1, {{"axis", int64_t{-1}}}), {&x})[0], {6, 4}, iota_values(24));
  expect_values(run_node(make_node("Flatten", 1, 1, {{"axis", int64_t{3}}}), {&x})[0], {24, 1}, iota_values(24));
}

TEST(Flatten, AxisOutOfRangeFails) {
  const Tensor x = iota_f32({2, 3});
  EXPECT_THROW(run_node(make_node("Flatten", 1, 1, {{"axis", int64_t{3}}}), {&x}), Error);
}

TEST(Reshape, ZeroCopiesDimensionAndMinusOneIsInferred) {
  const Tensor x = iota_f32({2, 3, 4});
  const Tensor shape = i64({3}, {0, -1, 2});
  const auto out = run_node(make_node("Reshape", 2), {&x, &shape});
  expect_values(out[0], {2, 6, 2}, iota_values(24));
  EXPECT_EQ(out[0].raw(), x.raw()) << "Reshape should return a view";
}

TEST(Reshape, AllowZeroKeepsZeroDimension) {
  const Tensor x(DType::kFloat32, {0, 3});
  const Tensor shape = i64({2}, {3, 0});
  const auto out = run_node(make_node("Reshape", 2, 1, {{"allowzero", int64_t{1}}}), {&x, &shape});
  EXPECT_EQ(out[0].shape(), (Shape{3, 0}));
}

TEST(Reshape, TargetThatDoesNotFitNamesNodeAndBothShapes) {
  const Tensor x = iota_f32({2, 3});
  const Tensor shape = i64({2}, {4, 2});
  try {
    run_node(make_node("Reshape", 2), {&x, &shape});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* part : {"test_Reshape", "[2,3]", "[4,2]"})
      EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

TEST(Reshape, InvalidRequestsFail) {
  const Tensor x = iota_f32({2, 3});
  const Tensor two_unknowns = i64({2}, {-1, -1});
  const Tensor not_divisible = i64({2}, {4, -1});
  const Tensor too_negative = i64({2}, {-2, 3});
  for (const Tensor* shape : {&two_unknowns, &not_divisible, &too_negative})
    EXPECT_THROW(run_node(make_node("Reshape", 2), {&x, shape}), Error) << shape_str(shape->to_int64s());
}

TEST(Squeeze, AxesInputAndNegativeAxes) {
  const Tensor x = iota_f32({1, 3, 1, 2});
  const Tensor axes = i64({2}, {0, -2});
  expect_values(run_node(make_node("Squeeze", 2), {&x, &axes})[0], {3, 2}, iota_values(6));
}

TEST(Squeeze, NoAxesRemovesAllOnes) {
  const Tensor x = iota_f32({1, 3, 1, 2});
  expect_values(run_node(make_node("Squeeze", 1), {&x})[0], {3, 2}, iota_values(6));
}

TEST(Squeeze, AxesAttributeBeforeOpset13) {
  const Tensor x = iota_f32({1, 3, 1});
  const Node node = make_node("Squeeze", 1, 1, {{"axes", std::vector<int64_t>{2}}});
  expect_values(run_node(node, {&x}, 11)[0], {1, 3}, iota_values(3));
}

TEST(Squeeze, AxisThatIsNotOneFails) {
  const Tensor x = iota_f32({1, 3});
  const Tensor axes = i64({1}, {1});
  EXPECT_THROW(run_node(make_node("Squeeze", 2), {&x, &axes}), Error);
}

TEST(Unsqueeze, UnsortedAndNegativeAxes) {
  const Tensor x = iota_f32({3, 2});
  const Tensor axes = i64({3}, {4, 0, -4});
  // Output rank 5: axis -4 is 1, so ones at 0, 1 and 4.
  expect_values(run_node(make_node("Unsqueeze", 2), {&x, &axes})[0], {1, 1, 3, 2, 1}, iota_values(6));
}

TEST(Unsqueeze, AxesAttributeBeforeOpset13AndDuplicatesFail) {
  const Tensor x = iota_f32({3});
  const Node node = make_node("Unsqueeze", 1, 1, {{"axes", std::vector<int64_t>{0}}});
  expect_values(run_node(node, {&x}, 11)[0], {1, 3}, iota_values(3));
  const Tensor duplicate = i64({2}, {1, -2});  // both are axis 1 of the rank-3 output
  EXPECT_THROW(run_node(make_node("Unsqueeze", 2), {&x, &duplicate}), Error);
}

TEST(Shape, WholeShapeAsInt64) {
  const Tensor x(DType::kInt8, {2, 3, 4});
  const auto out = run_node(make_node("Shape", 1), {&x});
  EXPECT_EQ(out[0].dtype(), DType::kInt64);
  expect_values(out[0], {3}, {2, 3, 4});
}

TEST(Shape, StartAndEndAreClampedFromOpset15) {
  const Tensor x(DType::kFloat32, {2, 3, 4, 5});
  const Node middle = make_node("Shape", 1, 1, {{"start", int64_t{1}}, {"end", int64_t{-1}}});
  expect_values(run_node(middle, {&x})[0], {2}, {3, 4});
  const Node clamped = make_node("Shape", 1, 1, {{"start", int64_t{-10}}, {"end", int64_t{10}}});
  expect_values(run_node(clamped, {&x})[0], {4}, {2, 3, 4, 5});
  const Node empty = make_node("Shape", 1, 1, {{"start", int64_t{3}}, {"end", int64_t{1}}});
  expect_values(run_node(empty, {&x})[0], {0}, {});
}

TEST(Constant, ValueTensorAndScalarForms) {
  const Tensor value = i64({2}, {7, -7});
  expect_values(run_node(make_node("Constant", 0, 1, {{"value", value}}), {})[0], {2}, {7, -7});
  const auto f = run_node(make_node("Constant", 0, 1, {{"value_float", 2.5f}}), {});
  EXPECT_EQ(f[0].dtype(), DType::kFloat32);
  expect_values(f[0], {}, {2.5});
  expect_values(run_node(make_node("Constant", 0, 1, {{"value_floats", std::vector<float>{1, 2}}}), {})[0], {2}, {1, 2});
  const auto i = run_node(make_node("Constant", 0, 1, {{"value_int", int64_t{3}}}), {});
  EXPECT_EQ(i[0].dtype(), DType::kInt64);
  expect_values(i[0], {}, {3});
  expect_values(run_node(make_node("Constant", 0, 1, {{"value_ints", std::vector<int64_t>{4, 5, 6}}}), {})[0], {3}, {4, 5, 6});
}

TEST(Constant, StringValueIsUnsupported) {
  EXPECT_THROW(run_node(make_node("Constant", 0, 1, {{"value_string", std::string("x")}}), {}), UnsupportedError);
}

}  // namespace
}  // namespace octet::testing
