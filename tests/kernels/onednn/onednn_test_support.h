// What the onednn kernel tests share: running a node on a backend with its
// constant inputs as initializers, and comparisons against the reference backend.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_runtime.h"
#include "support/kernel_harness.h"

// Skips an INT8 test where the onednn INT8 kernels decline by design (no VNNI or
// AMX: oneDNN's sums would not be exact). A macro: GTEST_SKIP returns from the test.
#define OCTET_SKIP_WITHOUT_EXACT_INT8()                                                     \
  if (!::octet::onednn::exact_int8_products())                                              \
  GTEST_SKIP() << "oneDNN has no exact INT8 products on this CPU (no VNNI or AMX): its INT8 " \
                  "kernels decline"

namespace octet::testing {

// A graph whose initializers are `node`'s inputs from index `first_constant` on
// (the weights and bias), under the node's input names.
inline Graph graph_with_constants(const Node& node, const std::vector<const Tensor*>& inputs,
                                  size_t first_constant = 1) {
  Graph graph;
  for (size_t i = first_constant; i < inputs.size(); ++i)
    if (inputs[i]) graph.initializers[node.inputs.at(i)] = *inputs[i];
  return graph;
}

// Output 0 of `node` on `backend`, its weights (inputs 1..) constant.
inline Tensor run_with_constants(const std::string& backend, const Node& node,
                                 const std::vector<const Tensor*>& inputs, int64_t opset) {
  return run_node(node, inputs, opset, backend, graph_with_constants(node, inputs))[0];
}

// Whether `backend`'s preparer accepts `node` with inputs [first_constant, ...) constant.
inline bool accepts(const std::string& backend, const Node& node, const std::vector<const Tensor*>& inputs,
                    int64_t opset, size_t first_constant = 1) {
  const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, opset, backend);
  return def && def->bind(node, graph_with_constants(node, inputs, first_constant)) != nullptr;
}

// FP32: every element within `relative` of the largest magnitude in `expected`.
inline void expect_close_fp32(const Tensor& actual, const Tensor& expected, const std::string& what,
                              double relative = 1e-4) {
  ASSERT_EQ(actual.dtype(), DType::kFloat32) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  double magnitude = 0.0;
  for (int64_t i = 0; i < expected.numel(); ++i) magnitude = std::max(magnitude, std::abs(expected.get_as_double(i)));
  const double tolerance = relative * std::max(magnitude, 1e-30);
  for (int64_t i = 0; i < expected.numel(); ++i)
    ASSERT_NEAR(actual.get_as_double(i), expected.get_as_double(i), tolerance) << what << ", element " << i;
}

// Counts of an INT8 kernel's output elements that differ from the reference.
struct Int8Mismatches {
  int64_t elements = 0, off_by_one = 0;
  double fraction() const { return elements ? static_cast<double>(off_by_one) / elements : 0.0; }
};

// int8 output: every element equal or at most 1 LSB off (counted into `tally`);
// float32 output: bit-identical values.
inline void expect_int8_kernel_match(const Tensor& actual, const Tensor& expected, const std::string& what,
                                     Int8Mismatches& tally) {
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  tally.elements += expected.numel();
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.get_as_double(i), e = expected.get_as_double(i);
    if (a == e) continue;
    ASSERT_EQ(expected.dtype(), DType::kInt8) << what << ", element " << i << ": " << a << " vs " << e;
    ASSERT_LE(std::abs(a - e), 1.0) << what << ", element " << i;
    ++tally.off_by_one;
  }
}

// Asserts the off-by-one fraction is below 0.1% and reports it.
inline void report_int8_mismatches(const Int8Mismatches& tally) {
  std::printf("int8 elements 1 LSB off the reference: %lld of %lld (%.5f%%)\n",
              static_cast<long long>(tally.off_by_one), static_cast<long long>(tally.elements),
              100.0 * tally.fraction());
  ::testing::Test::RecordProperty("int8_off_by_one", static_cast<int>(tally.off_by_one));
  ::testing::Test::RecordProperty("int8_elements", static_cast<int>(tally.elements));
  EXPECT_LT(tally.fraction(), 0.001);
}

}  // namespace octet::testing
