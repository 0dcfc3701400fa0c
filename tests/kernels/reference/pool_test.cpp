#include <numeric>

#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::failure;
using testing::f32;
using testing::make_node;
using testing::run_node;

// 1, 2, ..., n as an [1, 1, dims...] tensor.
Tensor counting(Shape shape) {
  std::vector<float> v(shape_numel(shape));
  std::iota(v.begin(), v.end(), 1.0f);
  return f32(shape, v);
}

// ---- MaxPool ----

TEST(MaxPool, Default2x2) {
  const Tensor x = counting({1, 1, 4, 4});
  auto out = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}}), {&x});
  expect_values(out[0], {1, 1, 3, 3}, {6, 7, 8, 10, 11, 12, 14, 15, 16});
}

TEST(MaxPool, CeilMode) {
  const Tensor x = counting({1, 1, 4, 4});
  auto out = run_node(
      make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"ceil_mode", int64_t{1}}}), {&x});
  expect_values(out[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  auto floor = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}}), {&x});
  expect_values(floor[0], {1, 1, 1, 1}, {11});
}

TEST(MaxPool, Dilations) {
  const Tensor x = counting({1, 1, 4, 4});
  auto out = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"dilations", Shape{2, 2}}}), {&x});
  expect_values(out[0], {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(MaxPool, PadsNeverWin) {
  const Tensor x = f32({1, 1, 2, 2}, {-1, -2, -3, -4});
  auto out = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"pads", Shape{1, 1, 1, 1}}}), {&x});
  expect_values(out[0], {1, 1, 3, 3}, {-1, -1, -2, -1, -1, -2, -3, -3, -4});
}

TEST(MaxPool, AutoPadSame) {
  const Tensor x = counting({1, 1, 4, 4});
  auto upper = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}), {&x});
  expect_values(upper[0], {1, 1, 4, 4}, {6, 7, 8, 8, 10, 11, 12, 12, 14, 15, 16, 16, 14, 15, 16, 16});
  auto lower = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}}), {&x});
  expect_values(lower[0], {1, 1, 4, 4}, std::vector<double>(x.data<float>(), x.data<float>() + 16));
}

TEST(MaxPool, IndicesRowAndColumnMajor) {
  const Tensor x = counting({1, 1, 5, 5});
  auto row_major = run_node(make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{2, 2}}, {"strides", Shape{2, 2}}}), {&x});
  expect_values(row_major[0], {1, 1, 2, 2}, {7, 9, 17, 19});
  EXPECT_EQ(row_major[1].dtype(), DType::kInt64);
  expect_values(row_major[1], {1, 1, 2, 2}, {6, 8, 16, 18});
  auto column_major = run_node(
      make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{2, 2}}, {"strides", Shape{2, 2}}, {"storage_order", int64_t{1}}}), {&x});
  expect_values(column_major[1], {1, 1, 2, 2}, {6, 16, 8, 18});
}

TEST(MaxPool, IndicesCountEarlierBatchesAndChannels) {
  // Ties keep the first maximum.
  const Tensor x = f32({2, 2, 1, 2}, {5, 5, 1, 3, 0, 2, 7, 7});
  auto out = run_node(make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{1, 2}}}), {&x});
  expect_values(out[0], {2, 2, 1, 1}, {5, 3, 2, 7});
  expect_values(out[1], {2, 2, 1, 1}, {0, 3, 5, 6});
}

TEST(MaxPool, OneAndThreeDimensional) {
  const Tensor line = f32({1, 1, 4}, {3, 1, 4, 1});
  auto out1 = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2}}}), {&line});
  expect_values(out1[0], {1, 1, 3}, {3, 4, 4});
  const Tensor cube = counting({1, 1, 2, 2, 3});
  auto out3 = run_node(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2, 2}}}), {&cube});
  expect_values(out3[0], {1, 1, 1, 1, 2}, {11, 12});
}

TEST(MaxPool, UInt8) {
  const Tensor x = testing::make_tensor(DType::kUInt8, {1, 1, 2, 2}, std::vector<int>{0, 0, 0, 0});
  auto out = run_node(make_node("MaxPool", 1, 2, {{"kernel_shape", Shape{2, 2}}}), {&x});
  EXPECT_EQ(out[0].dtype(), DType::kUInt8);
  expect_values(out[0], {1, 1, 1, 1}, {0});
  expect_values(out[1], {1, 1, 1, 1}, {0});
}

TEST(MaxPool, InvalidAttributesFail) {
  const Tensor x = counting({1, 1, 4, 4});
  EXPECT_NE(failure(make_node("MaxPool", 1), {&x}).find("kernel_shape"), std::string::npos);
  EXPECT_NE(failure(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2, 2}}, {"pads", Shape{2, 0, 0, 0}}}), {&x}).find("pads"),
            std::string::npos);
  EXPECT_NE(failure(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{5, 5}}}), {&x}).find("test_MaxPool"),
            std::string::npos);
  const Tensor flat = f32({4, 4}, std::vector<float>(16));
  EXPECT_NE(failure(make_node("MaxPool", 1, 1, {{"kernel_shape", Shape{2}}}), {&flat}).find("rank"), std::string::npos);
}

// ---- AveragePool ----

TEST(AveragePool, CeilModeAveragesOnlyTheInput) {
  const Tensor x = counting({1, 1, 4, 4});
  auto out = run_node(
      make_node("AveragePool", 1, 1, {{"kernel_shape", Shape{3, 3}}, {"strides", Shape{2, 2}}, {"ceil_mode", int64_t{1}}}), {&x});
  expect_values(out[0], {1, 1, 2, 2}, {6, 7.5, 12, 13.5});
}

TEST(AveragePool, PadsWithAndWithoutCountIncludePad) {
  const Tensor x = counting({1, 1, 3, 3});
  const std::map<std::string, Attribute> attrs{{"kernel_shape", Shape{3, 3}}, {"pads", Shape{1, 1, 1, 1}}};
  auto excluded = run_node(make_node("AveragePool", 1, 1, attrs), {&x});
  expect_values(excluded[0], {1, 1, 3, 3}, {3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7});
  auto with_count = attrs;
  with_count["count_include_pad"] = int64_t{1};
  auto included = run_node(make_node("AveragePool", 1, 1, with_count), {&x});
  expect_values(included[0], {1, 1, 3, 3}, {12.0 / 9, 21.0 / 9, 16.0 / 9, 27.0 / 9, 5, 33.0 / 9, 24.0 / 9, 39.0 / 9, 28.0 / 9});
}

TEST(AveragePool, CeilModeWindowPastThePaddingIsNotCounted) {
  // The last window covers only element 5: count_include_pad counts padding, not the ceil_mode overhang.
  const Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  auto out = run_node(make_node("AveragePool", 1, 1,
                                {{"kernel_shape", Shape{2}}, {"strides", Shape{2}}, {"ceil_mode", int64_t{1}},
                                 {"count_include_pad", int64_t{1}}}),
                      {&x});
  expect_values(out[0], {1, 1, 3}, {1.5, 3.5, 5});
}

TEST(AveragePool, AutoPadSameUpper) {
  const Tensor x = f32({1, 1, 1, 3}, {1, 2, 4});
  auto out = run_node(make_node("AveragePool", 1, 1, {{"kernel_shape", Shape{1, 2}}, {"auto_pad", std::string("SAME_UPPER")}}), {&x});
  expect_values(out[0], {1, 1, 1, 3}, {1.5, 3, 4});
}

TEST(AveragePool, ThreeDimensional) {
  const Tensor x = counting({1, 1, 2, 2, 3});
  auto out = run_node(make_node("AveragePool", 1, 1, {{"kernel_shape", Shape{2, 2, 2}}}), {&x});
  expect_values(out[0], {1, 1, 1, 1, 2}, {6, 7});
}

TEST(AveragePool, UnsupportedDtype) {
  const Tensor x = testing::make_tensor(DType::kInt8, {1, 1, 2, 2}, std::vector<int>{1, 2, 3, 4});
  EXPECT_NE(failure<UnsupportedError>(make_node("AveragePool", 1, 1, {{"kernel_shape", Shape{2, 2}}}), {&x}).find("int8"),
            std::string::npos);
}

// ---- Global pools ----

TEST(GlobalPool, AverageAndMax) {
  const Tensor x = f32({1, 2, 2, 2}, {1, 2, 3, 4, -5, -6, -7, -8});
  auto average = run_node(make_node("GlobalAveragePool", 1), {&x});
  expect_values(average[0], {1, 2, 1, 1}, {2.5, -6.5});
  auto max = run_node(make_node("GlobalMaxPool", 1), {&x});
  expect_values(max[0], {1, 2, 1, 1}, {4, -5});
  const Tensor line = f32({2, 1, 3}, {1, 2, 6, 0, 0, 3});
  expect_values(run_node(make_node("GlobalAveragePool", 1), {&line})[0], {2, 1, 1}, {3, 1});
}

TEST(GlobalPool, RankTooLowFails) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_NE(failure(make_node("GlobalMaxPool", 1), {&x}).find("test_GlobalMaxPool"), std::string::npos);
}

}  // namespace
}  // namespace octet
