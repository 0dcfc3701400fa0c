// Int8Add (domain "octet"): rounding half to even, saturation, broadcasting, relu,
// float output and errors.
#include <cmath>
#include <random>

#include "kernels/reference/int8/requantize.h"
#include "support/kernel_harness.h"

namespace octet {
namespace {

using testing::expect_values;
using testing::make_node;
using testing::make_tensor;
using testing::run_node;
using testing::i8;


Node add_node(std::map<std::string, Attribute> attrs) {
  attrs.emplace("a_scale", 1.0f);
  attrs.emplace("b_scale", 1.0f);
  attrs.emplace("y_scale", 1.0f);
  Node n = make_node("Int8Add", 2, 1, std::move(attrs));
  n.domain = "octet";
  return n;
}

std::vector<Tensor> run(const Node& n, const std::vector<const Tensor*>& inputs) { return run_node(n, inputs, 1); }

TEST(Int8Add, RoundsHalfToEven) {
  // a_scale / y_scale = b_scale / y_scale = 0.5: sums land on .5.
  const Tensor a = i8({6}, {1, 3, 1, -1, 5, -3}), b = i8({6}, {0, 0, 2, -2, 0, 0});
  auto out = run(add_node({{"a_scale", 0.5f}, {"b_scale", 0.5f}}), {&a, &b});
  ASSERT_EQ(out[0].dtype(), DType::kInt8);
  expect_values(out[0], {6}, {0, 2, 2, -2, 2, -2}, 0);
}

TEST(Int8Add, DifferentScales) {
  // 10 * 0.2 / 0.5 + 3 * 0.3 / 0.5 = 4 + 1.8 = 5.8 -> 6; -10 * 0.4 + 0 = -4.
  const Tensor a = i8({2}, {10, -10}), b = i8({2}, {3, 0});
  auto out = run(add_node({{"a_scale", 0.2f}, {"b_scale", 0.3f}, {"y_scale", 0.5f}}), {&a, &b});
  expect_values(out[0], {2}, {6, -4}, 0);
}

TEST(Int8Add, SaturatesAtBothEnds) {
  const Tensor a = i8({4}, {100, -100, 127, -128}), b = i8({4}, {100, -100, 0, 0});
  expect_values(run(add_node({}), {&a, &b})[0], {4}, {127, -128, 127, -128}, 0);
}

TEST(Int8Add, Relu) {
  const Tensor a = i8({3}, {-5, 2, 7}), b = i8({3}, {1, -3, 1});
  expect_values(run(add_node({{"activation", std::string("relu")}}), {&a, &b})[0], {3}, {0, 0, 8}, 0);
}

TEST(Int8Add, Broadcasting) {
  // Per-channel B [1, 2, 1, 1] onto A [1, 2, 2, 2], and a scalar.
  const Tensor a = i8({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), b = i8({1, 2, 1, 1}, {10, -10});
  expect_values(run(add_node({}), {&a, &b})[0], {1, 2, 2, 2}, {11, 12, 13, 14, -5, -4, -3, -2}, 0);
  const Tensor s = i8({}, {1});
  expect_values(run(add_node({}), {&s, &a})[0], {1, 2, 2, 2}, {2, 3, 4, 5, 6, 7, 8, 9}, 0);
  // Both sides broadcast: [2, 1] + [3] -> [2, 3].
  const Tensor col = i8({2, 1}, {0, 100}), row = i8({3}, {1, 2, 3});
  expect_values(run(add_node({}), {&col, &row})[0], {2, 3}, {1, 2, 3, 101, 102, 103}, 0);
}

TEST(Int8Add, FloatOutput) {
  const Tensor a = i8({3}, {4, -8, 1}), b = i8({3}, {2, 2, -6});
  Node n = add_node({{"a_scale", 0.25f}, {"b_scale", 0.5f}, {"output_dtype", std::string("float32")}});
  n.attributes.erase("y_scale");
  auto out = run(n, {&a, &b});
  ASSERT_EQ(out[0].dtype(), DType::kFloat32);
  expect_values(out[0], {3}, {2, -1, -2.75}, 0);
  n.attributes["activation"] = std::string("relu");
  expect_values(run(n, {&a, &b})[0], {3}, {2, 0, 0}, 0);
}

TEST(Int8Add, RandomizedMatchesFormula) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-128, 127);
  Tensor a(DType::kInt8, {3, 4, 5}), b(DType::kInt8, {4, 1});
  for (int64_t i = 0; i < a.numel(); ++i) a.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  for (int64_t i = 0; i < b.numel(); ++i) b.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  const float as = 0.031f, bs = 0.017f, ys = 0.043f;
  const Tensor y = run(add_node({{"a_scale", as}, {"b_scale", bs}, {"y_scale", ys}}), {&a, &b})[0];
  const float ra = static_cast<float>(static_cast<double>(as) / ys), rb = static_cast<float>(static_cast<double>(bs) / ys);
  for (int64_t i = 0; i < a.numel(); ++i) {
    volatile float pa = a.data<int8_t>()[i] * ra;  // each product rounded to float
    volatile float pb = b.data<int8_t>()[(i / 5) % 4] * rb;
    const float r = std::clamp(std::nearbyint(pa + pb), -128.0f, 127.0f);
    ASSERT_EQ(y.data<int8_t>()[i], static_cast<int8_t>(r)) << i;
  }
}

TEST(Int8Add, Errors) {
  const Tensor a = i8({2}, {1, 2}), b3 = i8({3}, {1, 2, 3});
  const Tensor af = testing::f32({2}, {1, 2});
  auto message = [&](const Node& n, const std::vector<const Tensor*>& in) -> std::string {
    try {
      run(n, in);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string dtype = message(add_node({}), {&a, &af});
  EXPECT_NE(dtype.find("node 'test_Int8Add' (octet.Int8Add)"), std::string::npos) << dtype;
  EXPECT_NE(dtype.find("B has dtype float32"), std::string::npos) << dtype;
  EXPECT_NE(message(add_node({}), {&a, &b3}).find("cannot broadcast"), std::string::npos);
  Node no_y = add_node({});
  no_y.attributes.erase("y_scale");
  EXPECT_NE(message(no_y, {&a, &a}).find("y_scale is missing"), std::string::npos);
  EXPECT_NE(message(add_node({{"a_scale", -1.0f}}), {&a, &a}).find("a_scale must be finite and > 0"),
            std::string::npos);
}

}  // namespace
}  // namespace octet
