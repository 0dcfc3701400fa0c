// octet.FusedConv against the reference Conv, Add and activation kernels run one after another.
#include <gtest/gtest.h>

#include "passes/pass_testing.h"
#include "support/kernel_harness.h"

using namespace octet;
using octet::pass_testing::random_tensor;
using octet::pass_testing::scalar;
using octet::testing::run_node;

namespace {

const std::map<std::string, Attribute> kConvAttributes = {{"pads", std::vector<int64_t>{1, 0, 2, 1}},
                                                          {"strides", std::vector<int64_t>{2, 1}},
                                                          {"group", int64_t{2}}};

struct ActivationCase {
  std::string fused_name;  // FusedConv's `activation`
  Node node;               // the separate node it replaces
  std::vector<Tensor> extra_inputs;
  std::map<std::string, Attribute> fused_attributes;
};

std::vector<ActivationCase> activation_cases() {
  auto act = [](const std::string& op, size_t inputs, std::map<std::string, Attribute> attrs = {}) {
    return octet::testing::make_node(op, inputs, 1, std::move(attrs));
  };
  return {
      {"none", act("Identity", 1), {}, {}},
      {"relu", act("Relu", 1), {}, {}},
      {"clip", act("Clip", 3), {scalar(-0.5f), scalar(0.75f)}, {{"clip_min", -0.5f}, {"clip_max", 0.75f}}},
      {"leaky_relu", act("LeakyRelu", 1, {{"alpha", 0.3f}}), {}, {{"alpha", 0.3f}}},
      {"sigmoid", act("Sigmoid", 1), {}, {}},
      {"hard_swish", act("HardSwish", 1), {}, {}},
  };
}

// Y = activation(Conv(x, w, b) [+ residual]) through the separate kernels.
Tensor unfused(const ActivationCase& c, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* residual) {
  Node conv = octet::testing::make_node("Conv", 3, 1, kConvAttributes);
  Tensor y = run_node(conv, {&x, &w, b})[0];
  if (residual) y = run_node(octet::testing::make_node("Add", 2), {&y, residual})[0];
  std::vector<const Tensor*> act_inputs = {&y};
  for (const auto& t : c.extra_inputs) act_inputs.push_back(&t);
  return run_node(c.node, act_inputs)[0];
}

Tensor fused(const ActivationCase& c, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* residual) {
  std::map<std::string, Attribute> attrs = kConvAttributes;
  attrs.insert(c.fused_attributes.begin(), c.fused_attributes.end());
  attrs["activation"] = c.fused_name;
  Node node = octet::testing::make_node("FusedConv", 4, 1, attrs);
  node.domain = "octet";
  return run_node(node, {&x, &w, b, residual}, 1)[0];
}

void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << what << " element " << i;
}

}  // namespace

TEST(FusedConvKernel, MatchesConvThenActivationBitForBit) {
  const Tensor x = random_tensor({2, 4, 7, 6}, 1, -3.f, 3.f), w = random_tensor({6, 2, 3, 2}, 2);
  const Tensor b = random_tensor({6}, 3);
  for (const auto& c : activation_cases()) {
    expect_identical(fused(c, x, w, &b, nullptr), unfused(c, x, w, &b, nullptr), c.fused_name);
    expect_identical(fused(c, x, w, nullptr, nullptr), unfused(c, x, w, nullptr, nullptr), c.fused_name + " no bias");
  }
}

TEST(FusedConvKernel, ResidualIsAddedBeforeTheActivation) {
  const Tensor x = random_tensor({2, 4, 7, 6}, 4, -3.f, 3.f), w = random_tensor({6, 2, 3, 2}, 5);
  const Tensor b = random_tensor({6}, 6);
  const Tensor residual = random_tensor({2, 6, 4, 6}, 7, -2.f, 2.f);
  for (const auto& c : activation_cases())
    expect_identical(fused(c, x, w, &b, &residual), unfused(c, x, w, &b, &residual), c.fused_name + " + residual");
}

TEST(FusedConvKernel, RejectsAResidualOfAnotherShapeAndUnknownActivations) {
  const Tensor x = random_tensor({1, 4, 7, 6}, 8), w = random_tensor({6, 2, 3, 2}, 9);
  const Tensor residual = random_tensor({1, 6, 1, 1}, 10);
  const ActivationCase relu = activation_cases()[1];
  try {
    fused(relu, x, w, nullptr, &residual);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("residual"), std::string::npos) << e.what();
  }
  ActivationCase unknown = relu;
  unknown.fused_name = "gelu";
  try {
    fused(unknown, x, w, nullptr, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown activation 'gelu'"), std::string::npos) << e.what();
  }
}
