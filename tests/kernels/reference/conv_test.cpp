#include <numeric>

#include "octet/parallel.h"
#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::failure;
using testing::f32;
using testing::make_node;
using testing::run_node;

// 0, 1, ..., n-1
std::vector<float> iota(int n, float start = 0.0f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

Tensor ones(Shape shape) { return f32(shape, std::vector<float>(shape_numel(shape), 1.0f)); }

// ---- Conv ----

TEST(Conv, Basic3x3WithoutPadding) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 3, 3});
  auto out = run_node(make_node("Conv", 2), {&x, &w});
  expect_values(out[0], {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
}

TEST(Conv, Padding) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 3, 3});
  auto out = run_node(make_node("Conv", 2, 1, {{"pads", Shape{1, 1, 1, 1}}}), {&x, &w});
  expect_values(out[0], {1, 1, 5, 5},
                {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111,
                 72, 111, 117, 123, 84});
}

TEST(Conv, StridesAndPadding) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 3, 3});
  auto out = run_node(make_node("Conv", 2, 1, {{"pads", Shape{1, 1, 1, 1}}, {"strides", Shape{2, 2}}}), {&x, &w});
  expect_values(out[0], {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
}

TEST(Conv, AsymmetricPadding) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 3, 3});
  auto out = run_node(make_node("Conv", 2, 1, {{"pads", Shape{1, 0, 1, 0}}, {"strides", Shape{2, 2}}}), {&x, &w});
  expect_values(out[0], {1, 1, 3, 2}, {21, 33, 99, 117, 111, 123});
}

TEST(Conv, AutoPadSameLowerAndUpper) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 3, 3});
  for (const char* mode : {"SAME_LOWER", "SAME_UPPER"}) {  // total padding 2 splits evenly
    auto out = run_node(make_node("Conv", 2, 1, {{"auto_pad", std::string(mode)}, {"strides", Shape{2, 2}}}), {&x, &w});
    expect_values(out[0], {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
  }
  // 4 wide, kernel 2: one padding column, at the end for SAME_UPPER, the start for SAME_LOWER.
  const Tensor row = f32({1, 1, 1, 4}, {1, 2, 3, 4}), pair = f32({1, 1, 1, 2}, {1, 10});
  auto upper = run_node(make_node("Conv", 2, 1, {{"auto_pad", std::string("SAME_UPPER")}}), {&row, &pair});
  expect_values(upper[0], {1, 1, 1, 4}, {21, 32, 43, 4});
  auto lower = run_node(make_node("Conv", 2, 1, {{"auto_pad", std::string("SAME_LOWER")}}), {&row, &pair});
  expect_values(lower[0], {1, 1, 1, 4}, {10, 21, 32, 43});
}

TEST(Conv, Dilations) {
  const Tensor x = f32({1, 1, 5, 5}, iota(25)), w = ones({1, 1, 2, 2});
  auto out = run_node(make_node("Conv", 2, 1, {{"dilations", Shape{2, 2}}}), {&x, &w});
  expect_values(out[0], {1, 1, 3, 3}, {24, 28, 32, 44, 48, 52, 64, 68, 72});
}

TEST(Conv, GroupsWithBias) {
  const Tensor x = f32({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = f32({2, 1, 1, 1}, {2, 3}), b = f32({2}, {1, -1});
  auto out = run_node(make_node("Conv", 3, 1, {{"group", int64_t{2}}}), {&x, &w, &b});
  expect_values(out[0], {1, 2, 2, 2}, {3, 5, 7, 9, 14, 17, 20, 23});
}

TEST(Conv, DepthwiseWithPaddingAndBias) {
  const Tensor x = f32({1, 3, 4, 4}, [] {
    std::vector<float> v = iota(48, 1);
    for (float& e : v) e *= 0.5f;
    return v;
  }());
  // Sobel-x, Sobel-y and a box filter, one per channel.
  const Tensor w = f32({3, 1, 3, 3}, {1, 0, -1, 2, 0, -2, 1, 0, -1, 1, 2, 1, 0, 0, 0, -1, -2, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  const Tensor b = f32({3}, {0.5f, -1, 2});
  auto out = run_node(make_node("Conv", 3, 1, {{"group", int64_t{3}}, {"pads", Shape{1, 1, 1, 1}}}), {&x, &w, &b});
  expect_values(out[0], {1, 3, 4, 4},
                {-4.5, -2.5, -2.5, 7, -11.5, -3.5, -3.5, 14.5, -19.5, -3.5, -3.5, 22.5, -18.5, -2.5, -2.5, 21,
                 -33, -45, -47, -36.5, -13, -17, -17, -13, -13, -17, -17, -13, 37, 51, 53, 40.5,
                 73, 110, 113, 77, 114.5, 173, 177.5, 120.5, 126.5, 191, 195.5, 132.5, 89, 134, 137, 93});
}

// Batch 2, 2 input and 3 output channels, bias: values from a direct numpy loop.
struct MultiChannelCase {
  Tensor x = f32({2, 2, 3, 3}, {-3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0,
                                1, 2, 3, -3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1, 2, 3, -3});
  Tensor w = f32({3, 2, 2, 2}, {-2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1});
  Tensor b = f32({3}, {1, 2, 3});
  std::vector<double> expected{6, 3, -3, 8, -8, 7, 2, 10, 13, 6, -8, -8, 8, -9, 6, 3, 10, 11, -8, 7, -8, 6, 13, 6};
};

TEST(Conv, BatchAndChannelsWithBias) {
  MultiChannelCase c;
  auto out = run_node(make_node("Conv", 3), {&c.x, &c.w, &c.b});
  expect_values(out[0], {2, 3, 2, 2}, c.expected);
}

TEST(Conv, SameResultWithThreads) {
  MultiChannelCase c;
  set_num_threads(3);
  auto batched = run_node(make_node("Conv", 3), {&c.x, &c.w, &c.b});
  const Tensor x1 = f32({1, 2, 3, 3}, std::vector<float>(c.x.data<float>(), c.x.data<float>() + 18));
  auto single = run_node(make_node("Conv", 3), {&x1, &c.w, &c.b});  // one unit: parallel GEMM rows
  set_num_threads(1);
  expect_values(batched[0], {2, 3, 2, 2}, c.expected);
  expect_values(single[0], {1, 3, 2, 2}, std::vector<double>(c.expected.begin(), c.expected.begin() + 12));
}

TEST(Conv, OneDimensional) {
  const Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5}), w = f32({1, 1, 3}, {1, 0, -1});
  auto out = run_node(make_node("Conv", 2, 1, {{"pads", Shape{1, 1}}, {"strides", Shape{2}}}), {&x, &w});
  expect_values(out[0], {1, 1, 3}, {-2, -2, 4});
}

TEST(Conv, ThreeDimensional) {
  const Tensor x = f32({1, 1, 3, 3, 3}, iota(27)), w = ones({1, 1, 2, 2, 2});
  auto out = run_node(make_node("Conv", 2), {&x, &w});
  expect_values(out[0], {1, 1, 2, 2, 2}, {52, 60, 76, 84, 124, 132, 148, 156});
}

TEST(Conv, Float64) {
  const Tensor x = testing::make_tensor(DType::kFloat64, {1, 1, 2, 2}, std::vector<double>{1, 2, 3, 4});
  const Tensor w = testing::make_tensor(DType::kFloat64, {1, 1, 1, 1}, std::vector<double>{0.5});
  auto out = run_node(make_node("Conv", 2), {&x, &w});
  EXPECT_EQ(out[0].dtype(), DType::kFloat64);
  expect_values(out[0], {1, 1, 2, 2}, {0.5, 1, 1.5, 2});
}

// Runs a node expected to fail and returns the message.
TEST(Conv, ChannelMismatchNamesTheNode) {
  const Tensor x = f32({1, 3, 4, 4}, std::vector<float>(48)), w = ones({2, 2, 3, 3});
  const std::string message = failure(make_node("Conv", 2), {&x, &w});
  EXPECT_NE(message.find("test_Conv"), std::string::npos) << message;
  EXPECT_NE(message.find("channels"), std::string::npos) << message;
  // 3 channels do not split into 2 groups.
  EXPECT_NE(failure(make_node("Conv", 2, 1, {{"group", int64_t{2}}}), {&x, &w}).find("channels"), std::string::npos);
}

TEST(Conv, InvalidOperandsFail) {
  const Tensor x = f32({1, 1, 4, 4}, std::vector<float>(16)), w = ones({2, 1, 3, 3});
  const Tensor bad_bias = f32({3}, {1, 2, 3}), w_1d = ones({2, 1, 3});
  EXPECT_NE(failure(make_node("Conv", 3), {&x, &w, &bad_bias}).find("B [3]"), std::string::npos);
  EXPECT_NE(failure(make_node("Conv", 2), {&x, &w_1d}).find("rank"), std::string::npos);
  EXPECT_NE(failure(make_node("Conv", 2, 1, {{"kernel_shape", Shape{2, 2}}}), {&x, &w}).find("kernel_shape"),
            std::string::npos);
  EXPECT_NE(failure(make_node("Conv", 2, 1, {{"strides", Shape{0, 1}}}), {&x, &w}).find("strides"), std::string::npos);
  const Tensor big = ones({1, 1, 5, 5});
  EXPECT_NE(failure(make_node("Conv", 2), {&x, &big}).find("does not fit"), std::string::npos);
  EXPECT_NE(failure(make_node("Conv", 2, 1, {{"auto_pad", std::string("SAME")}}), {&x, &w}).find("auto_pad"),
            std::string::npos);
}

TEST(Conv, UnsupportedDtype) {
  const Tensor x = testing::make_tensor(DType::kInt8, {1, 1, 2, 2}, std::vector<int>{1, 2, 3, 4});
  const Tensor w = testing::make_tensor(DType::kInt8, {1, 1, 1, 1}, std::vector<int>{1});
  EXPECT_NE(failure<UnsupportedError>(make_node("Conv", 2), {&x, &w}).find("int8"), std::string::npos);
  const Tensor w_f32 = ones({1, 1, 1, 1});
  EXPECT_NE(failure(make_node("Conv", 2), {&x, &w_f32}).find("dtype"), std::string::npos);
}

// ---- ConvTranspose ----

TEST(ConvTranspose, Basic) {
  const Tensor x = f32({1, 1, 3, 3}, iota(9)), w = ones({1, 2, 3, 3});
  auto out = run_node(make_node("ConvTranspose", 2), {&x, &w});
  const std::vector<double> channel{0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
  std::vector<double> expected = channel;
  expected.insert(expected.end(), channel.begin(), channel.end());
  expect_values(out[0], {1, 2, 5, 5}, expected);
}

TEST(ConvTranspose, StridesAndPads) {
  const Tensor x = f32({1, 1, 3, 3}, iota(9)), w = ones({1, 1, 2, 2});
  const std::vector<double> expected{0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 3, 4, 4, 5, 5, 6, 7, 7, 8, 8, 6, 7, 7, 8, 8};
  auto padded = run_node(make_node("ConvTranspose", 2, 1, {{"strides", Shape{2, 2}}, {"pads", Shape{1, 1, 0, 0}}}), {&x, &w});
  expect_values(padded[0], {1, 1, 5, 5}, expected);
  // output_shape 5x5 of the 6x6 full output: the odd padding goes at the start.
  auto shaped = run_node(make_node("ConvTranspose", 2, 1, {{"strides", Shape{2, 2}}, {"output_shape", Shape{5, 5}}}), {&x, &w});
  expect_values(shaped[0], {1, 1, 5, 5}, expected);
}

TEST(ConvTranspose, OutputPadding) {
  const Tensor x = f32({1, 1, 3, 3}, iota(9)), w = ones({1, 1, 2, 2});
  auto out = run_node(make_node("ConvTranspose", 2, 1, {{"strides", Shape{2, 2}}, {"output_padding", Shape{1, 0}}}), {&x, &w});
  expect_values(out[0], {1, 1, 7, 6},
                {0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 3, 3, 4, 4,
                 5, 5, 6, 6, 7, 7, 8, 8, 6, 6, 7, 7, 8, 8, 0, 0, 0, 0, 0, 0});
}

TEST(ConvTranspose, AutoPadSameUpper) {
  // Output = input * stride = 6; the full output is 7, the one cropped element is at the end.
  const Tensor x = f32({1, 1, 3}, {1, 2, 3}), w = ones({1, 1, 3});
  auto out = run_node(make_node("ConvTranspose", 2, 1, {{"strides", Shape{2}}, {"auto_pad", std::string("SAME_UPPER")}}), {&x, &w});
  expect_values(out[0], {1, 1, 6}, {1, 1, 3, 2, 5, 3});
}

TEST(ConvTranspose, GroupsWithBias) {
  const Tensor x = f32({1, 2, 3}, {1, 2, 3, 4, 5, 6}), w = f32({2, 1, 2}, {1, -1, 2, 0.5f}), b = f32({2}, {1, -1});
  auto out = run_node(make_node("ConvTranspose", 3, 1, {{"group", int64_t{2}}}), {&x, &w, &b});
  expect_values(out[0], {1, 2, 4}, {2, 2, 2, -2, 7, 11, 13.5, 2});
}

TEST(ConvTranspose, Dilations) {
  const Tensor x = f32({1, 1, 2}, {1, 2}), w = f32({1, 1, 2}, {1, 10});
  auto out = run_node(make_node("ConvTranspose", 2, 1, {{"dilations", Shape{2}}}), {&x, &w});
  expect_values(out[0], {1, 1, 4}, {1, 2, 10, 20});
}

TEST(ConvTranspose, ChannelMismatchNamesTheNode) {
  const Tensor x = f32({1, 3, 2, 2}, std::vector<float>(12)), w = ones({2, 1, 2, 2});
  const std::string message = failure(make_node("ConvTranspose", 2), {&x, &w});
  EXPECT_NE(message.find("test_ConvTranspose"), std::string::npos) << message;
  EXPECT_NE(message.find("channels"), std::string::npos) << message;
}

}  // namespace
}  // namespace octet
