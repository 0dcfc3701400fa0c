// onednn QuantizeLinear / DequantizeLinear against the reference kernels (bit for
// bit), their fallback to the reference, a hand-checked table, and a timing
// printout at a batch-64 network input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_test_support.h"
#include "octet/parallel.h"

namespace octet::testing {
namespace {

class OnednnQuantizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_num_threads(2); }
  static void TearDownTestSuite() { set_num_threads(1); }
};

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor scalar(DType dtype, double value, Shape shape = {}) {
  Tensor t(dtype, std::move(shape));
  t.set_from_double(0, value);
  return t;
}

// Shapes from one element to enough blocks to run on both threads; most are not
// multiples of any vector width.
const std::vector<Shape>& test_shapes() {
  static const std::vector<Shape> shapes{{1}, {15}, {17}, {64}, {67}, {3, 5, 7}, {1, 3, 33, 31}, {2, 3, 131, 129}};
  return shapes;
}

// Values whose quotient by `scale` is arbitrary, lands on .5 steps (exactly when
// scale is a power of two), lies beyond the rounding trick's 2^22, or is special.
Tensor awkward_floats(const Shape& shape, float scale, std::mt19937& rng) {
  static const std::vector<float> specials{kInf, -kInf, kNaN, -kNaN, 0.0f, -0.0f, 1e-45f, -1e-40f,
                                           std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                                           4194304.5f, -4194303.5f, 8388607.5f, 8388609.0f, -16777216.0f, 1e30f};
  Tensor t(DType::kFloat32, shape);
  std::uniform_int_distribution<int> kind(0, 9), half_step(-600, 600), exponent(20, 127), special(0, 15);
  std::uniform_real_distribution<float> uniform(-300.0f, 300.0f), mantissa(1.0f, 2.0f);
  float* x = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int k = kind(rng);
    if (k < 4) x[i] = uniform(rng) * scale;
    else if (k < 8) x[i] = half_step(rng) * 0.5f * scale;
    else if (k == 8) x[i] = (half_step(rng) < 0 ? -1.0f : 1.0f) * std::ldexp(mantissa(rng), exponent(rng));
    else x[i] = specials[special(rng)];
  }
  return t;
}

// The onednn kernel's output, bit-identical to the reference's, with the scale and
// zero point as run-time inputs and as initializers.
void expect_matches_reference(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset,
                              const std::string& what) {
  const Tensor expected = run_node(node, inputs, opset)[0];
  expect_bit_identical(run_node(node, inputs, opset, "onednn", Graph{})[0], expected, what + ", inputs");
  expect_bit_identical(run_with_constants("onednn", node, inputs, opset), expected, what + ", initializers");
}

struct ZeroPoint {
  DType dtype;  // kUndefined: omitted
  int value;
};

Node qdq_node(const char* op_type, const ZeroPoint& zero_point) {
  return make_node(op_type, zero_point.dtype == DType::kUndefined ? 2 : 3);
}

std::string describe(const ZeroPoint& zero_point) {
  if (zero_point.dtype == DType::kUndefined) return "no zero point";
  return "zero point " + std::to_string(zero_point.value) + " " + std::string(dtype_name(zero_point.dtype));
}

TEST_F(OnednnQuantizeTest, QuantizeMatchesReferenceBitForBit) {
  std::mt19937 rng(1);
  const std::vector<float> scales{1.0f, 0.25f, 0.0173f, 3.1e-5f, 1e-38f, 2.5e3f, -0.5f, 0.0f};
  const std::vector<ZeroPoint> zero_points{{DType::kInt8, 0},    {DType::kInt8, -3},    {DType::kInt8, 127},
                                           {DType::kInt8, -128}, {DType::kUInt8, 0},    {DType::kUInt8, 128},
                                           {DType::kUInt8, 255}, {DType::kUndefined, 0}};
  const std::vector<int64_t> opsets{10, 13, 17};
  int64_t elements = 0, cases = 0;
  for (const Shape& shape : test_shapes())
    for (const float scale_value : scales)
      for (const ZeroPoint& zero_point : zero_points) {
        const int64_t opset = opsets[cases % opsets.size()];
        const Shape param_shape = cases++ % 2 ? Shape{1} : Shape{};
        const Tensor x = awkward_floats(shape, scale_value, rng);
        const Tensor scale = scalar(DType::kFloat32, scale_value, param_shape);
        const Tensor zero = scalar(zero_point.dtype == DType::kUndefined ? DType::kUInt8 : zero_point.dtype,
                                   zero_point.value, param_shape);
        std::vector<const Tensor*> inputs{&x, &scale};
        if (zero_point.dtype != DType::kUndefined) inputs.push_back(&zero);
        expect_matches_reference(qdq_node("QuantizeLinear", zero_point), inputs, opset,
                                 "QuantizeLinear " + shape_str(shape) + " scale " + std::to_string(scale_value) +
                                     " " + describe(zero_point));
        elements += x.numel();
      }
  std::printf("quantized %lld elements, all bit-identical\n", static_cast<long long>(elements));
}

TEST_F(OnednnQuantizeTest, DequantizeMatchesReferenceBitForBit) {
  std::mt19937 rng(2);
  const std::vector<float> scales{1.0f, 0.0173f, 1e-38f, 3e38f, -0.5f, 0.0f, kInf, kNaN};
  const std::vector<ZeroPoint> zero_points{{DType::kInt8, 0},     {DType::kInt8, -3},   {DType::kInt8, 127},
                                           {DType::kInt8, -128},  {DType::kUInt8, 0},   {DType::kUInt8, 128},
                                           {DType::kUInt8, 255}};
  int64_t cases = 0;
  for (const Shape& shape : test_shapes())
    for (const float scale_value : scales)
      for (const ZeroPoint& zero_point : zero_points)
        for (const bool omitted : {false, true}) {
          const Tensor x = zero_point.dtype == DType::kInt8 ? random_int8(shape, rng) : random_uint8(shape, rng);
          const Shape param_shape = cases++ % 2 ? Shape{1} : Shape{};
          const Tensor scale = scalar(DType::kFloat32, scale_value, param_shape);
          const Tensor zero = scalar(zero_point.dtype, zero_point.value, param_shape);
          const ZeroPoint given = omitted ? ZeroPoint{DType::kUndefined, 0} : zero_point;
          std::vector<const Tensor*> inputs{&x, &scale};
          if (!omitted) inputs.push_back(&zero);
          expect_matches_reference(qdq_node("DequantizeLinear", given), inputs, cases % 2 ? 13 : 10,
                                   "DequantizeLinear " + std::string(dtype_name(x.dtype())) + " " +
                                       shape_str(shape) + " scale " + std::to_string(scale_value) + " " +
                                       describe(given));
        }
}

TEST_F(OnednnQuantizeTest, HandCheckedValues) {
  const Tensor x = f32({10}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f, -300.0f, kNaN, kInf, -kInf});
  const Tensor one = scalar(DType::kFloat32, 1.0);
  const Tensor int8_zero = scalar(DType::kInt8, 0), uint8_128 = scalar(DType::kUInt8, 128);
  const Node quantize = make_node("QuantizeLinear", 3), quantize_default_zero = make_node("QuantizeLinear", 2);
  const Tensor to_int8 = run_node(quantize, {&x, &one, &int8_zero}, 13, "onednn")[0];
  EXPECT_EQ(to_int8.dtype(), DType::kInt8);
  expect_values(to_int8, {10}, {0, 2, 2, 0, -2, 127, -128, -128, 127, -128}, 0.0);
  const Tensor to_uint8 = run_node(quantize, {&x, &one, &uint8_128}, 13, "onednn")[0];
  EXPECT_EQ(to_uint8.dtype(), DType::kUInt8);
  expect_values(to_uint8, {10}, {128, 130, 130, 128, 126, 255, 0, 0, 255, 0}, 0.0);
  const Tensor default_zero = run_node(quantize_default_zero, {&x, &one}, 13, "onednn")[0];
  EXPECT_EQ(default_zero.dtype(), DType::kUInt8);
  expect_values(default_zero, {10}, {0, 2, 2, 0, 0, 255, 0, 0, 255, 0}, 0.0);

  const Node dequantize = make_node("DequantizeLinear", 3);
  const Tensor q8 = i8({4}, {-128, -3, 0, 127});
  const Tensor half = scalar(DType::kFloat32, 0.5), minus_three = scalar(DType::kInt8, -3);
  expect_values(run_node(dequantize, {&q8, &half, &minus_three}, 13, "onednn")[0], {4}, {-62.5, 0, 1.5, 65}, 0.0);
  const Tensor qu8 = make_tensor(DType::kUInt8, {3}, std::vector<int>{0, 128, 255});
  const Tensor two = scalar(DType::kFloat32, 2.0);
  expect_values(run_node(dequantize, {&qu8, &two, &uint8_128}, 13, "onednn")[0], {3}, {-256, 0, 254}, 0.0);
}

TEST_F(OnednnQuantizeTest, PerAxisAndInt32RunTheReference) {
  std::mt19937 rng(3);
  const Node quantize = make_node("QuantizeLinear", 3, 1, {{"axis", int64_t{1}}});
  const Node dequantize = make_node("DequantizeLinear", 3, 1, {{"axis", int64_t{1}}});
  const Tensor x = awkward_floats({2, 3, 40, 50}, 0.1f, rng);
  const Tensor scales = f32({3}, {0.1f, 0.25f, 0.03f});
  const Tensor zero_points = i8({3}, {0, -3, 7});
  const Tensor q = run_node(quantize, {&x, &scales, &zero_points}, 13)[0];
  expect_bit_identical(run_node(quantize, {&x, &scales, &zero_points}, 13, "onednn")[0], q, "per-axis QuantizeLinear");
  expect_bit_identical(run_node(dequantize, {&q, &scales, &zero_points}, 13, "onednn")[0],
                       run_node(dequantize, {&q, &scales, &zero_points}, 13)[0], "per-axis DequantizeLinear");
  EXPECT_FALSE(accepts("onednn", quantize, {&x, &scales, &zero_points}, 13));
  EXPECT_FALSE(accepts("onednn", dequantize, {&q, &scales, &zero_points}, 13));

  const Tensor q32 = random_int32({5, 7}, rng, -100000, 100000);
  const Tensor scale = scalar(DType::kFloat32, 0.01), zero32 = scalar(DType::kInt32, 17);
  expect_bit_identical(run_node(dequantize, {&q32, &scale, &zero32}, 13, "onednn")[0],
                       run_node(dequantize, {&q32, &scale, &zero32}, 13)[0], "int32 DequantizeLinear");
  EXPECT_FALSE(accepts("onednn", dequantize, {&q32, &scale, &zero32}, 13));
  const Tensor int8_zero = scalar(DType::kInt8, 0);
  expect_bit_identical(run_node(quantize, {&q32, &scale, &int8_zero}, 13, "onednn")[0],
                       run_node(quantize, {&q32, &scale, &int8_zero}, 13)[0], "int32 QuantizeLinear");
  EXPECT_TRUE(accepts("onednn", quantize, {&x, &scale, &int8_zero}, 13));
}

TEST_F(OnednnQuantizeTest, ErrorsAreTheReferences) {
  const Node dequantize = make_node("DequantizeLinear", 3);
  const Tensor q = i8({4}, {1, 2, 3, 4});
  const Tensor scale = scalar(DType::kFloat32, 0.5), uint8_zero = scalar(DType::kUInt8, 0);
  auto message = [&](const std::string& backend) -> std::string {
    try {
      run_node(dequantize, {&q, &scale, &uint8_zero}, 13, backend);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << backend << " DequantizeLinear with a mismatched zero point dtype ran";
    return "";
  };
  EXPECT_EQ(message("onednn"), message("reference"));
}

// Hands out one buffer for every run's output, as an execution context's arena
// does, so that the page faults of a fresh heap output are not timed.
// Not an assertion: reference vs onednn QuantizeLinear of a batch-64 ImageNet input, 2 threads.
double seconds_per_run(const std::string& backend, const Node& node, const std::vector<const Tensor*>& inputs,
                       int runs) {
  const auto kernel = KernelRegistry::global().find(node.domain, node.op_type, 13, backend)->bind(node, Graph{});
  return median_seconds_per_run(*kernel, node, 13, inputs, runs);
}

TEST_F(OnednnQuantizeTest, TimingAtBatch64) {
  std::mt19937 rng(4);
  const Shape shape{64, 3, 224, 224};
  const Tensor x = random_floats(shape, rng, -2.2f, 2.7f);
  const Tensor scale = scalar(DType::kFloat32, 0.0213), zero = scalar(DType::kInt8, 0);
  const Node node = make_node("QuantizeLinear", 3);
  const double reference = seconds_per_run("reference", node, {&x, &scale, &zero}, 3);
  const double onednn = seconds_per_run("onednn", node, {&x, &scale, &zero}, 20);
  std::printf("QuantizeLinear %s float32 -> int8, %d threads: reference %.2f ms  onednn %.2f ms  (x%.1f)\n",
              shape_str(shape).c_str(), num_threads(), 1e3 * reference, 1e3 * onednn, reference / onednn);
}

}  // namespace
}  // namespace octet::testing
