#include "support/kernel_harness.h"

namespace octet::testing {
namespace {

using Attrs = std::map<std::string, Attribute>;

// Resize with inputs X, roi, scales, sizes; nullptr / kNone mark omitted ones.
Tensor resize(const Tensor& x, const Tensor* scales, const Tensor* sizes, Attrs attrs = {},
              const Tensor* roi = nullptr) {
  const Tensor empty(DType::kFloat32, {0});
  const Node node = make_node("Resize", 4, 1, std::move(attrs));
  return run_node(node, {&x, roi ? roi : &empty, scales ? scales : &empty, sizes})[0];
}

// [[1, 2], [3, 4]] as a 1x1x2x2 image.
const Tensor& image2x2() {
  static const Tensor t = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  return t;
}

TEST(Resize, NearestUpsample2x) {
  const Tensor scales = f32({4}, {1, 1, 2, 2});
  expect_values(resize(image2x2(), &scales, nullptr, {{"mode", std::string("nearest")}}), {1, 1, 4, 4},
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(Resize, BilinearUpsample2xHalfPixel) {
  const Tensor scales = f32({4}, {1, 1, 2, 2});
  expect_values(resize(image2x2(), &scales, nullptr, {{"mode", std::string("linear")}}), {1, 1, 4, 4},
                {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
}

TEST(Resize, BilinearAlignCornersFromSizes) {
  const Tensor sizes = i64({4}, {1, 1, 3, 3});
  const Attrs attrs = {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}};
  expect_values(resize(image2x2(), nullptr, &sizes, attrs), {1, 1, 3, 3}, {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
}

TEST(Resize, NearestModesOnHalfwayCoordinates) {
  // Downsampling [0,1,2,3] by 2 with half_pixel maps outputs to 0.5 and 2.5.
  const Tensor x = f32({4}, {0, 1, 2, 3});
  const Tensor scales = f32({1}, {0.5f});
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"round_prefer_floor", {0, 2}}, {"round_prefer_ceil", {1, 3}}, {"floor", {0, 2}}, {"ceil", {1, 3}}};
  for (const auto& [mode, expected] : cases) {
    SCOPED_TRACE(mode);
    expect_values(resize(x, &scales, nullptr, {{"nearest_mode", mode}}), {2}, expected);
  }
}

TEST(Resize, NearestCopiesIntegerElementsExactly) {
  Tensor x(DType::kInt64, {2});  // set directly: going through double would round 2^60 + 1
  x.data<int64_t>()[0] = (int64_t{1} << 60) + 1;
  x.data<int64_t>()[1] = -3;
  const Tensor sizes = i64({1}, {4});
  const Tensor out = resize(x, nullptr, &sizes, {{"coordinate_transformation_mode", std::string("asymmetric")}});
  ASSERT_EQ(out.shape(), (Shape{4}));
  const int64_t* v = out.data<int64_t>();
  EXPECT_EQ(v[0], (int64_t{1} << 60) + 1);
  EXPECT_EQ(v[1], (int64_t{1} << 60) + 1);
  EXPECT_EQ(v[2], -3);
  EXPECT_EQ(v[3], -3);
}

TEST(Resize, CubicAsymmetricWithAndWithoutExcludeOutside) {
  // Weights at fraction 0.5 with a = -0.75: [-0.09375, 0.59375, 0.59375, -0.09375].
  const Tensor x = f32({4}, {1, 2, 4, 8});
  const Tensor scales = f32({1}, {2});
  const Attrs attrs = {{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("asymmetric")}};
  expect_values(resize(x, &scales, nullptr, attrs), {8}, {1, 1.3125, 2, 2.71875, 4, 6.1875, 8, 8.375});
  Attrs exclude = attrs;
  exclude["exclude_outside"] = int64_t{1};
  const Tensor out = resize(x, &scales, nullptr, exclude);
  EXPECT_NEAR(out.get_as_double(1), 1.40625 / 1.09375, 1e-5);  // tap at -1 dropped, rest renormalised
  EXPECT_NEAR(out.get_as_double(3), 2.71875, 1e-5);
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  // Axis 1 samples input positions 1.5, 3 and 4.5 (outside -> extrapolation_value).
  const Tensor x = f32({1, 4}, {0, 1, 2, 3});
  const Tensor roi = f32({4}, {0, 0.5f, 1, 1.5f});
  const Tensor sizes = i64({2}, {1, 3});
  const Attrs attrs = {{"mode", std::string("linear")},
                       {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                       {"extrapolation_value", 10.0f}};
  expect_values(resize(x, nullptr, &sizes, attrs, &roi), {1, 3}, {1.5, 3, 10});
}

TEST(Resize, Opset10TakesScalesAsSecondInput) {
  const Tensor scales = f32({4}, {1, 1, 1, 2});
  const auto out = run_node(make_node("Resize", 2), {&image2x2(), &scales}, 10);
  expect_values(out[0], {1, 1, 2, 4}, {1, 1, 2, 2, 3, 3, 4, 4});
}

TEST(Resize, ScalesAndSizesTogetherFail) {
  const Tensor scales = f32({4}, {1, 1, 2, 2});
  const Tensor sizes = i64({4}, {1, 1, 4, 4});
  EXPECT_THROW(resize(image2x2(), &scales, &sizes), Error);
  EXPECT_THROW(resize(image2x2(), nullptr, nullptr), Error);
  const Tensor wrong_rank = f32({2}, {2, 2});
  EXPECT_THROW(resize(image2x2(), &wrong_rank, nullptr), Error);
}

TEST(Resize, UnsupportedModeAndDtype) {
  const Tensor scales = f32({4}, {1, 1, 2, 2});
  EXPECT_THROW(resize(image2x2(), &scales, nullptr, {{"mode", std::string("area")}}), UnsupportedError);
  const Tensor int8 = make_tensor<int>(DType::kInt8, {1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(resize(int8, &scales, nullptr, {{"mode", std::string("linear")}}), UnsupportedError);
}

TEST(Upsample, NearestScalesInputAndAttribute) {
  const Tensor scales = f32({4}, {1, 1, 2, 3});
  const std::vector<double> expected = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  expect_values(run_node(make_node("Upsample", 2), {&image2x2(), &scales}, 9)[0], {1, 1, 4, 6}, expected);
  const Node with_attr = make_node("Upsample", 1, 1, {{"scales", std::vector<float>{1, 1, 2, 3}}});
  expect_values(run_node(with_attr, {&image2x2()}, 7)[0], {1, 1, 4, 6}, expected);
}

TEST(Upsample, LinearIsAsymmetric) {
  const Tensor x = f32({2}, {1, 3});
  const Tensor scales = f32({1}, {2});
  // Outputs sample 0, 0.5, 1 and 1.5 (clamped to the last element).
  expect_values(run_node(make_node("Upsample", 2, 1, {{"mode", std::string("linear")}}), {&x, &scales}, 9)[0], {4},
                {1, 2, 3, 3});
}

}  // namespace
}  // namespace octet::testing
