// Reference elementwise kernels: broadcasting arithmetic, activations, Clip, Identity.
#include <cstdint>
#include <limits>

#include "octet/parallel.h"
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

TEST(Add, SameShape) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = f32({2, 3}, {10, 20, 30, 40, 50, 60});
  expect_values(run_one_output(make_node("Add", 2), {&a, &b}), {2, 3}, {11, 22, 33, 44, 55, 66});
}

TEST(Add, BroadcastsRowVector) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = f32({3}, {10, 20, 30});
  expect_values(run_one_output(make_node("Add", 2), {&a, &b}), {2, 3}, {11, 22, 33, 14, 25, 36});
}

TEST(Mul, BroadcastsBothWays) {
  // [2,1,3] * [4,1] -> [2,4,3]: out[i,j,k] = a[i,0,k] * b[j,0].
  Tensor a = f32({2, 1, 3}, {1, 2, 3, 4, 5, 6}), b = f32({4, 1}, {1, 10, 100, 1000});
  expect_values(run_one_output(make_node("Mul", 2), {&a, &b}), {2, 4, 3},
                {1,    2,    3,    10,   20,   30,   100,  200,  300,  1000, 2000, 3000,
                 4,    5,    6,    40,   50,   60,   400,  500,  600,  4000, 5000, 6000});
}

TEST(Sub, ScalarOnEitherSide) {
  Tensor v = f32({3}, {1, 2, 3}), s = f32({}, {10});
  expect_values(run_one_output(make_node("Sub", 2), {&v, &s}), {3}, {-9, -8, -7});
  expect_values(run_one_output(make_node("Sub", 2), {&s, &v}), {3}, {9, 8, 7});
  expect_values(run_one_output(make_node("Sub", 2), {&s, &s}), {}, {0});
}

TEST(Div, Float) {
  Tensor a = f32({4}, {1, -3, 7, 0}), b = f32({4}, {2, 4, -8, 5});
  expect_values(run_one_output(make_node("Div", 2), {&a, &b}), {4}, {0.5, -0.75, -0.875, 0});
}

TEST(Div, IntegerTruncatesTowardZero) {
  Tensor a = make_tensor<int32_t>(DType::kInt32, {5}, {7, -7, 7, -7, std::numeric_limits<int32_t>::min()});
  Tensor b = make_tensor<int32_t>(DType::kInt32, {5}, {2, 2, -2, -2, -1});
  Tensor out = run_one_output(make_node("Div", 2), {&a, &b});
  EXPECT_EQ(out.dtype(), DType::kInt32);
  // MIN / -1 overflows; it wraps back to MIN instead of trapping.
  expect_values(out, {5}, {3, -3, -3, 3, std::numeric_limits<int32_t>::min()});
}

TEST(Div, IntegerDivisionByZeroIsAnError) {
  Tensor a = i64({2}, {1, 2}), b = i64({2}, {1, 0});
  EXPECT_THROW(run_one_output(make_node("Div", 2), {&a, &b}), Error);
}

TEST(Add, IntegerTypesWrapAround) {
  Tensor a = make_tensor<int>(DType::kInt8, {2}, {127, -128}), b = make_tensor<int>(DType::kInt8, {2}, {1, -1});
  expect_values(run_one_output(make_node("Add", 2), {&a, &b}), {2}, {-128, 127});
  Tensor c = make_tensor<int>(DType::kUInt8, {2}, {3, 200}), d = make_tensor<int>(DType::kUInt8, {}, {5});
  expect_values(run_one_output(make_node("Sub", 2), {&c, &d}), {2}, {254, 195});
  Tensor e = make_tensor<int>(DType::kUInt16, {1}, {65535});
  expect_values(run_one_output(make_node("Mul", 2), {&e, &e}), {1}, {1});
}

TEST(Pow, FloatBaseWithFloatOrIntegerExponent) {
  Tensor base = f32({3}, {1, 2, 3}), fexp = f32({3}, {4, 0.5, -1}), iexp = i64({}, {3});
  expect_values(run_one_output(make_node("Pow", 2), {&base, &fexp}), {3}, {1, 1.41421356, 1.0 / 3});
  Tensor out = run_one_output(make_node("Pow", 2), {&base, &iexp});
  EXPECT_EQ(out.dtype(), DType::kFloat32);
  expect_values(out, {3}, {1, 8, 27});
}

TEST(Pow, IntegerBaseKeepsItsType) {
  Tensor base = make_tensor<int>(DType::kInt32, {3}, {1, 2, 3}), e = f32({3}, {4, 5, 6});
  Tensor out = run_one_output(make_node("Pow", 2), {&base, &e});
  EXPECT_EQ(out.dtype(), DType::kInt32);
  expect_values(out, {3}, {1, 32, 729});
}

// Checks the segment walk against direct index arithmetic over several layouts,
// including outputs large enough to be split across threads.
TEST(Add, BroadcastMatchesNaiveIndexing) {
  struct Case { Shape a, b; };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {1, 3, 1, 5}}, {{4, 1, 5}, {2, 1, 3, 1}},
      {{1, 1}, {3, 1, 1}},       {{8, 16, 33, 17}, {16, 1, 1}}, {{8, 16, 33, 17}, {8, 1, 33, 1}},
      {{70000}, {}}};
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    for (const Case& c : cases) {
      Tensor a(DType::kFloat32, c.a), b(DType::kFloat32, c.b);
      for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = static_cast<float>(i);
      for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = static_cast<float>(i) * 1e-3f;
      Tensor out = run_one_output(make_node("Add", 2), {&a, &b});
      const Shape& shape = out.shape();
      const size_t rank = shape.size();
      // Index of an output element into an input of shape `in` (right-aligned, size-1 dims repeat).
      auto input_index = [&](const Shape& in, int64_t flat) {
        int64_t index = 0, stride = 1;
        for (size_t d = rank; d-- > 0;) {
          const int64_t coord = flat % shape[d];
          flat /= shape[d];
          const int64_t j = static_cast<int64_t>(d) - static_cast<int64_t>(rank - in.size());
          if (j >= 0) {
            if (in[j] != 1) index += coord * stride;
            stride *= in[j];
          }
        }
        return index;
      };
      int64_t mismatches = 0;
      for (int64_t i = 0; i < out.numel(); ++i)
        mismatches += out.data<float>()[i] !=
                      a.data<float>()[input_index(c.a, i)] + b.data<float>()[input_index(c.b, i)];
      EXPECT_EQ(mismatches, 0) << shape_str(c.a) << " + " << shape_str(c.b) << " threads " << threads;
    }
  }
  set_num_threads(1);
}

TEST(Add, LegacyBroadcastBeforeOpset7) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), column = f32({2}, {10, 20}), row = f32({3}, {10, 20, 30});
  // b lines up with a from `axis` on (default: trailing dimensions).
  expect_values(run_one_output(make_node("Add", 2, 1, {{"broadcast", int64_t{1}}, {"axis", int64_t{0}}}), {&a, &column}, 6),
                {2, 3}, {11, 12, 13, 24, 25, 26});
  expect_values(run_one_output(make_node("Add", 2, 1, {{"broadcast", int64_t{1}}}), {&a, &row}, 6), {2, 3},
                {11, 22, 33, 14, 25, 36});
  // Without the attribute the shapes must match.
  EXPECT_THROW(run_one_output(make_node("Add", 2), {&a, &row}, 6), Error);
}

TEST(PRelu, PerChannelSlopeBeforeOpset7) {
  Tensor x = f32({1, 2, 2}, {-1, 1, -1, 1}), slope = f32({2}, {0.5f, 2});
  expect_values(run_one_output(make_node("PRelu", 2), {&x, &slope}, 6), {1, 2, 2}, {-0.5, 1, -2, 1});
}

TEST(Add, IncompatibleShapesNameNodeAndShapes) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = f32({4}, {1, 2, 3, 4});
  try {
    run_one_output(make_node("Add", 2), {&a, &b});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test_Add"), std::string::npos) << message;
    EXPECT_NE(message.find("[2,3]"), std::string::npos) << message;
    EXPECT_NE(message.find("[4]"), std::string::npos) << message;
  }
}

TEST(Add, MismatchedDtypesAreAnError) {
  Tensor a = f32({2}, {1, 2}), b = i64({2}, {1, 2});
  EXPECT_THROW(run_one_output(make_node("Add", 2), {&a, &b}), Error);
}

TEST(Add, UnsupportedDtypeIsNamed) {
  Tensor a = make_tensor<float>(DType::kFloat16, {2}, {1, 2});
  try {
    run_one_output(make_node("Add", 2), {&a, &a});
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("float16"), std::string::npos) << e.what();
  }
}

TEST(Relu, FloatAndInteger) {
  Tensor x = f32({4}, {-2, -0.5, 0, 3});
  expect_values(run_one_output(make_node("Relu", 1), {&x}), {4}, {0, 0, 0, 3});
  Tensor xi = make_tensor<int>(DType::kInt8, {3}, {-128, 0, 127});
  expect_values(run_one_output(make_node("Relu", 1), {&xi}, 14), {3}, {0, 0, 127});
}

TEST(LeakyRelu, UsesAlpha) {
  Tensor x = f32({3}, {-10, 0, 5});
  expect_values(run_one_output(make_node("LeakyRelu", 1, 1, {{"alpha", 0.1f}}), {&x}), {3}, {-1, 0, 5});
  expect_values(run_one_output(make_node("LeakyRelu", 1), {&x}), {3}, {-0.1, 0, 5});  // default 0.01
}

TEST(PRelu, SlopeBroadcastsToX) {
  Tensor x = f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  Tensor per_column = f32({3}, {0.1f, 0.2f, 0.3f});
  expect_values(run_one_output(make_node("PRelu", 2), {&x, &per_column}), {2, 3}, {-0.1, 2, -0.9, 4, -1.0, 6});
  Tensor per_row = f32({2, 1}, {0.5f, 2});
  expect_values(run_one_output(make_node("PRelu", 2), {&x, &per_row}), {2, 3}, {-0.5, 2, -1.5, 4, -10, 6});
}

TEST(PRelu, SlopeMustNotGrowX) {
  Tensor x = f32({3}, {-1, 2, -3}), slope = f32({2, 3}, {1, 1, 1, 1, 1, 1});
  EXPECT_THROW(run_one_output(make_node("PRelu", 2), {&x, &slope}), Error);
}

TEST(Sigmoid, Values) {
  Tensor x = f32({3}, {-1, 0, 1});
  expect_values(run_one_output(make_node("Sigmoid", 1), {&x}), {3}, {0.26894142, 0.5, 0.73105858});
  Tensor extreme = f32({2}, {-1000, 1000});
  expect_values(run_one_output(make_node("Sigmoid", 1), {&extreme}), {2}, {0, 1});
}

TEST(Tanh, Values) {
  Tensor x = f32({3}, {-1, 0, 1});
  expect_values(run_one_output(make_node("Tanh", 1), {&x}), {3}, {-0.76159416, 0, 0.76159416});
}

TEST(HardSigmoid, DefaultAndCustomAlphaBeta) {
  Tensor x = f32({5}, {-3, -1, 0, 1, 3});
  // max(0, min(1, 0.2 x + 0.5))
  expect_values(run_one_output(make_node("HardSigmoid", 1), {&x}), {5}, {0, 0.3, 0.5, 0.7, 1});
  expect_values(run_one_output(make_node("HardSigmoid", 1, 1, {{"alpha", 0.5f}, {"beta", 0.6f}}), {&x}), {5},
                {0, 0.1, 0.6, 1, 1});
}

TEST(HardSwish, Values) {
  Tensor x = f32({7}, {-4, -3, -1, 0, 1, 3, 4});
  // x * max(0, min(1, x / 6 + 0.5))
  expect_values(run_one_output(make_node("HardSwish", 1), {&x}, 14), {7}, {0, 0, -1.0 / 3, 0, 2.0 / 3, 3, 4});
}

TEST(Clip, AttributesBeforeOpset11) {
  Tensor x = f32({4}, {-5, -1, 1, 5});
  expect_values(run_one_output(make_node("Clip", 1, 1, {{"min", -2.0f}, {"max", 2.0f}}), {&x}, 6), {4}, {-2, -1, 1, 2});
  expect_values(run_one_output(make_node("Clip", 1, 1, {{"max", 0.0f}}), {&x}, 6), {4}, {-5, -1, 0, 0});
}

TEST(Clip, OptionalInputs) {
  Tensor x = f32({4}, {-5, -1, 1, 5}), lo = f32({}, {-2}), hi = f32({}, {2});
  Node clip = make_node("Clip", 3);
  expect_values(run_one_output(clip, {&x, &lo, &hi}), {4}, {-2, -1, 1, 2});
  expect_values(run_one_output(clip, {&x, nullptr, &hi}), {4}, {-5, -1, 1, 2});
  expect_values(run_one_output(clip, {&x, &lo}), {4}, {-2, -1, 1, 5});
  expect_values(run_one_output(make_node("Clip", 1), {&x}), {4}, {-5, -1, 1, 5});
  // min > max: every value becomes max.
  expect_values(run_one_output(clip, {&x, &hi, &lo}), {4}, {-2, -2, -2, -2});
}

TEST(Clip, IntegerTypes) {
  Tensor x = make_tensor<int>(DType::kInt8, {4}, {-128, -1, 1, 127}), lo = make_tensor<int>(DType::kInt8, {}, {-10});
  expect_values(run_one_output(make_node("Clip", 2), {&x, &lo}), {4}, {-10, -1, 1, 127});
}

TEST(Clip, BoundsMustBeScalarsOfXType) {
  Tensor x = f32({2}, {1, 2}), vector_bound = f32({2}, {0, 1}), int_bound = i64({}, {0});
  EXPECT_THROW(run_one_output(make_node("Clip", 2), {&x, &vector_bound}), Error);
  EXPECT_THROW(run_one_output(make_node("Clip", 2), {&x, &int_bound}), Error);
}

TEST(Identity, CopiesAnyDtype) {
  Tensor x = i64({2, 2}, {1, -2, 3, 0});
  x.data<int64_t>()[3] = std::numeric_limits<int64_t>::max();  // beyond what the harness's doubles hold
  Tensor y = run_one_output(make_node("Identity", 1), {&x});
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.data<int64_t>()[3], std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace octet
