// Reference Cast, QuantizeLinear and DequantizeLinear kernels.
#include <cmath>
#include <cstdint>
#include <limits>

#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::f32;
using testing::i64;
using testing::make_node;
using testing::make_tensor;
using testing::run_node;
using testing::run_one_output;

Node cast_to(DType to) { return make_node("Cast", 1, 1, {{"to", static_cast<int64_t>(to)}}); }

TEST(Cast, FloatToFloat16AndBack) {
  const float tie_down = 1.0f + 0x1p-11f;     // half-way between 1 and the next half: even is 1
  const float tie_up = 1.0f + 3 * 0x1p-11f;   // half-way between 1+2^-10 and 1+2^-9: even is the latter
  Tensor x = f32({6}, {1, -2, 65504, tie_down, tie_up, 70000});
  Tensor half = run_one_output(cast_to(DType::kFloat16), {&x});
  ASSERT_EQ(half.dtype(), DType::kFloat16);
  EXPECT_EQ(half.data<uint16_t>()[0], 0x3c00);
  Tensor back = run_one_output(cast_to(DType::kFloat32), {&half});
  ASSERT_EQ(back.dtype(), DType::kFloat32);
  ASSERT_EQ(back.shape(), Shape{6});
  const std::vector<float> expected = {1, -2, 65504, 1, 1 + 0x1p-9f, std::numeric_limits<float>::infinity()};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(back.data<float>()[i], expected[i]) << "element " << i;
}

TEST(Cast, FloatToBFloat16RoundsToNearestEven) {
  Tensor x = f32({3}, {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -3.0f});
  Tensor bfloat = run_one_output(cast_to(DType::kBFloat16), {&x});
  ASSERT_EQ(bfloat.dtype(), DType::kBFloat16);
  Tensor back = run_one_output(cast_to(DType::kFloat32), {&bfloat});
  expect_values(back, {3}, {1, 1 + 0x1p-6, -3}, 0);
}

TEST(Cast, Float64ToFloat16) {
  Tensor x = make_tensor<double>(DType::kFloat64, {2}, {0.1, -1.5});
  Tensor half = run_one_output(cast_to(DType::kFloat16), {&x});
  expect_values(half, {2}, {0.0999755859375, -1.5}, 0);
}

TEST(Cast, FloatToIntegerTruncatesTowardZero) {
  Tensor x = f32({5}, {2.7f, -2.7f, -0.5f, 1e10f, std::nanf("")});
  Tensor y = run_one_output(cast_to(DType::kInt32), {&x});
  ASSERT_EQ(y.dtype(), DType::kInt32);
  // Out of range and NaN are undefined in ONNX: octet saturates and maps NaN to 0.
  expect_values(y, {5}, {2, -2, 0, std::numeric_limits<int32_t>::max(), 0}, 0);
}

TEST(Cast, IntegerConversionsWrapLikeNumpy) {
  Tensor x = make_tensor<int>(DType::kInt32, {3}, {300, -1, 7});
  expect_values(run_one_output(cast_to(DType::kUInt8), {&x}), {3}, {44, 255, 7}, 0);
  Tensor big = i64({1}, {int64_t{1} << 40});
  expect_values(run_one_output(cast_to(DType::kFloat32), {&big}), {1}, {std::ldexp(1.0, 40)}, 0);
}

TEST(Cast, BoolBothWays) {
  Tensor x = f32({4}, {0, 0.5f, -1, std::nanf("")});
  Tensor b = run_one_output(cast_to(DType::kBool), {&x});
  ASSERT_EQ(b.dtype(), DType::kBool);
  expect_values(b, {4}, {0, 1, 1, 1}, 0);
  expect_values(run_one_output(cast_to(DType::kInt64), {&b}), {4}, {0, 1, 1, 1}, 0);
}

TEST(Cast, SameTypeCopies) {
  Tensor x = i64({2}, {0, 5});
  x.data<int64_t>()[0] = std::numeric_limits<int64_t>::max();  // beyond what the harness's doubles hold
  Tensor y = run_one_output(cast_to(DType::kInt64), {&x});
  EXPECT_EQ(y.data<int64_t>()[0], std::numeric_limits<int64_t>::max());
}

TEST(Cast, StringIsUnsupportedAndNamed) {
  Tensor x = f32({1}, {1});
  try {
    run_one_output(make_node("Cast", 1, 1, {{"to", int64_t{8}}}), {&x});
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("string"), std::string::npos) << e.what();
  }
}

TEST(QuantizeLinear, RoundsHalfToEven) {
  Tensor x = f32({7}, {0.5f, 1.5f, 2.5f, -2.5f, -0.5f, 3.5f, 0.49f});
  Tensor scale = f32({}, {1}), zero_point = make_tensor<int>(DType::kInt8, {}, {0});
  Tensor y = run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point});
  ASSERT_EQ(y.dtype(), DType::kInt8);
  expect_values(y, {7}, {0, 2, 2, -2, 0, 4, 0}, 0);
}

TEST(QuantizeLinear, ScaleAndZeroPoint) {
  // round(x / 2) + 10
  Tensor x = f32({4}, {5, 6, -7, 0}), scale = f32({}, {2}), zero_point = make_tensor<int>(DType::kUInt8, {}, {10});
  expect_values(run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point}), {4}, {12, 13, 6, 10}, 0);
}

TEST(QuantizeLinear, SaturatesInt8) {
  Tensor x = f32({5}, {-1000, 1000, -128.6f, 127.4f, -127.5f}), scale = f32({}, {1});
  Tensor zero_point = make_tensor<int>(DType::kInt8, {}, {0});
  expect_values(run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point}), {5}, {-128, 127, -128, 127, -128}, 0);
}

TEST(QuantizeLinear, SaturatesUInt8AndDefaultsToIt) {
  Tensor x = f32({5}, {-1000, 1000, -1, 254.6f, 3}), scale = f32({}, {1});
  Tensor y = run_one_output(make_node("QuantizeLinear", 2), {&x, &scale});  // no zero point: uint8, 0
  ASSERT_EQ(y.dtype(), DType::kUInt8);
  expect_values(y, {5}, {0, 255, 0, 255, 3}, 0);
  Tensor zero_point = make_tensor<int>(DType::kUInt8, {}, {128});
  expect_values(run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point}, 10), {5}, {0, 255, 127, 255, 131}, 0);
}

TEST(QuantizeLinear, PerAxis) {
  Tensor x = f32({2, 3}, {1, 2, 4, -1, -2, -4});
  Tensor scale = f32({3}, {1, 2, 4}), zero_point = make_tensor<int>(DType::kUInt8, {3}, {0, 10, 128});
  // Default axis 1: column j uses scale[j], zero_point[j].
  expect_values(run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point}), {2, 3}, {1, 11, 129, 0, 9, 127}, 0);
  Tensor row_scale = f32({2}, {1, 0.5f}), row_zero_point = make_tensor<int>(DType::kInt8, {2}, {0, -1});
  expect_values(run_one_output(make_node("QuantizeLinear", 3, 1, {{"axis", int64_t{-2}}}), {&x, &row_scale, &row_zero_point}),
                {2, 3}, {1, 2, 4, -3, -5, -9}, 0);
}

TEST(QuantizeLinear, PerAxisNeedsOpset13AndMatchingLength) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6}), scale = f32({3}, {1, 2, 4}), short_scale = f32({2}, {1, 2});
  EXPECT_THROW(run_one_output(make_node("QuantizeLinear", 2), {&x, &scale}, 10), Error);
  EXPECT_THROW(run_one_output(make_node("QuantizeLinear", 2), {&x, &short_scale}), Error);
  Tensor zero_point = make_tensor<int>(DType::kUInt8, {2}, {0, 0});
  EXPECT_THROW(run_one_output(make_node("QuantizeLinear", 3), {&x, &scale, &zero_point}), Error);
}

TEST(DequantizeLinear, PerTensor) {
  Tensor x = make_tensor<int>(DType::kInt8, {3}, {-128, 0, 127}), scale = f32({}, {0.5f});
  Tensor zero_point = make_tensor<int>(DType::kInt8, {}, {-1});
  Tensor y = run_one_output(make_node("DequantizeLinear", 3), {&x, &scale, &zero_point});
  ASSERT_EQ(y.dtype(), DType::kFloat32);
  expect_values(y, {3}, {-63.5, 0.5, 64}, 0);
  Tensor acc = make_tensor<int>(DType::kInt32, {2}, {-1000000, 3});
  expect_values(run_one_output(make_node("DequantizeLinear", 2), {&acc, &scale}), {2}, {-500000, 1.5}, 0);
}

TEST(DequantizeLinear, PerAxisInvertsQuantize) {
  Tensor q = make_tensor<int>(DType::kUInt8, {2, 3}, {1, 11, 129, 0, 9, 127});
  Tensor scale = f32({3}, {1, 2, 4}), zero_point = make_tensor<int>(DType::kUInt8, {3}, {0, 10, 128});
  expect_values(run_one_output(make_node("DequantizeLinear", 3), {&q, &scale, &zero_point}), {2, 3}, {1, 2, 4, 0, -2, -4}, 0);
}

TEST(DequantizeLinear, ZeroPointTypeMustMatch) {
  Tensor q = make_tensor<int>(DType::kUInt8, {1}, {1}), scale = f32({}, {1});
  Tensor zero_point = make_tensor<int>(DType::kInt8, {}, {0});
  EXPECT_THROW(run_one_output(make_node("DequantizeLinear", 3), {&q, &scale, &zero_point}), Error);
}

}  // namespace
}  // namespace octet
