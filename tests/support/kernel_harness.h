// Runs one node through a registered kernel, for small hand-checkable op tests;
// random operands, channels-last nodes and tensors, and bitwise comparison.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "octet/kernel.h"

namespace octet::testing {

template <class T>
Tensor make_tensor(DType dtype, Shape shape, const std::vector<T>& values) {
  Tensor t(dtype, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel()) << "test data size";
  for (size_t i = 0; i < values.size(); ++i) t.set_from_double(i, static_cast<double>(values[i]));
  return t;
}
inline Tensor f32(Shape shape, const std::vector<float>& v) { return make_tensor(DType::kFloat32, std::move(shape), v); }
inline Tensor i8(Shape shape, const std::vector<int>& v) { return make_tensor(DType::kInt8, std::move(shape), v); }
inline Tensor i32(Shape shape, const std::vector<int>& v) { return make_tensor(DType::kInt32, std::move(shape), v); }
// Copied exactly: values beyond 2^53 (INT64_MAX in Slice ends) must not pass through double.
inline Tensor i64(Shape shape, const std::vector<int64_t>& v) {
  Tensor t(DType::kInt64, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(v.size()), t.numel()) << "test data size";
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

// Runs `node` (inputs: nullptr entries mark omitted optional inputs) at `opset`
// on `backend`, prepared for `graph`, and returns its outputs. Kernels that read
// constant inputs (weights) when they are prepared find them in
// graph.initializers, under the node's input names.
inline std::vector<Tensor> run_node(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset,
                                    const std::string& backend, const Graph& graph) {
  const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, opset, backend);
  if (!def) throw Error("no " + backend + " kernel for " + node.op_type + " at opset " + std::to_string(opset));
  KernelContext ctx{node, opset, inputs, std::vector<Tensor>(node.outputs.size())};
  const auto kernel = def->bind(node, graph);
  if (!kernel) throw Error(backend + " kernel for " + node.op_type + " declined the node");
  kernel->run(ctx);
  return std::move(ctx.outputs);
}

// As above, prepared for an empty graph, on the reference backend by default.
inline std::vector<Tensor> run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                                    int64_t opset = 17, const std::string& backend = "reference") {
  return run_node(node, inputs, opset, backend, Graph{});
}

// The only output of a single-output node.
inline Tensor run_one_output(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17) {
  return run_node(node, inputs, opset).at(0);
}

// The message of the error E that running `node` must raise; a test failure when it runs cleanly.
template <class E = Error>
std::string failure(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17) {
  try {
    run_node(node, inputs, opset);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected " << node.op_type << " to fail";
  return "";
}

inline Node make_node(const std::string& op_type, size_t n_inputs, size_t n_outputs = 1,
                      std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = "test_" + op_type;
  n.op_type = op_type;
  for (size_t i = 0; i < n_inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < n_outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  n.attributes = std::move(attrs);
  return n;
}

inline void expect_values(const Tensor& t, Shape shape, const std::vector<double>& expected,
                          double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(t.get_as_double(i), expected[i], tol * std::max(1.0, std::abs(expected[i]))) << "element " << i;
}

inline Tensor random_floats(Shape shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

inline Tensor random_int8(Shape shape, std::mt19937& rng, int lo = -128, int hi = 127) {
  Tensor t(DType::kInt8, std::move(shape));
  std::uniform_int_distribution<int> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  return t;
}

inline Tensor random_uint8(Shape shape, std::mt19937& rng) {
  Tensor t(DType::kUInt8, std::move(shape));
  std::uniform_int_distribution<int> dist(0, 255);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(dist(rng));
  return t;
}

inline Tensor random_int32(Shape shape, std::mt19937& rng, int32_t lo, int32_t hi) {
  Tensor t(DType::kInt32, std::move(shape));
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = dist(rng);
  return t;
}

// Same dtype, shape and bytes.
inline void expect_bit_identical(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const auto* a = static_cast<const unsigned char*>(actual.raw());
  const auto* e = static_cast<const unsigned char*>(expected.raw());
  const size_t size = dtype_size(expected.dtype());
  for (int64_t i = 0; i < expected.numel(); ++i)
    ASSERT_EQ(std::memcmp(a + i * size, e + i * size, size), 0)
        << what << ", element " << i << ": " << actual.get_as_double(i) << " vs " << expected.get_as_double(i);
}

// `node` marked channels-last: its 4-D activations are [N, H, W, C] (Node::channels_last()).
inline Node channels_last(Node node) {
  node.attributes[kLayoutAttribute] = std::string(kChannelsLast);
  return node;
}

// 4-D `t` with its axes reordered, written out index by index (independent of
// the Transpose kernels): axis i of the result is axis perm[i] of t.
inline Tensor permuted_4d(const Tensor& t, const std::vector<int64_t>& perm) {
  EXPECT_EQ(t.rank(), 4) << "permuted_4d takes 4-D tensors";
  Shape shape(4);
  for (size_t i = 0; i < 4; ++i) shape[i] = t.dim(perm[i]);
  Tensor out(t.dtype(), shape);
  const size_t size = dtype_size(t.dtype());
  const Shape& in = t.shape();
  int64_t index[4];  // over the result's axes
  int64_t offset = 0;
  for (index[0] = 0; index[0] < shape[0]; ++index[0])
    for (index[1] = 0; index[1] < shape[1]; ++index[1])
      for (index[2] = 0; index[2] < shape[2]; ++index[2])
        for (index[3] = 0; index[3] < shape[3]; ++index[3], ++offset) {
          int64_t source[4];
          for (size_t i = 0; i < 4; ++i) source[perm[i]] = index[i];
          const int64_t from = ((source[0] * in[1] + source[1]) * in[2] + source[2]) * in[3] + source[3];
          std::memcpy(static_cast<char*>(out.raw()) + offset * size,
                      static_cast<const char*>(t.raw()) + from * size, size);
        }
  return out;
}
inline Tensor to_nhwc(const Tensor& nchw) { return permuted_4d(nchw, {0, 2, 3, 1}); }
inline Tensor to_nchw(const Tensor& nhwc) { return permuted_4d(nhwc, {0, 3, 1, 2}); }

// Output 0 of `node` made channels-last, run on `backend` (prepared for `graph`)
// with the inputs at `activations` in NHWC, transposed back to NCHW: comparable
// with the output of `node` itself.
inline Tensor run_channels_last(const Node& node, const std::vector<const Tensor*>& inputs,
                                const std::vector<size_t>& activations, int64_t opset, const std::string& backend,
                                const Graph& graph) {
  std::vector<const Tensor*> nhwc_inputs = inputs;
  std::deque<Tensor> nhwc;  // keeps its elements in place as it grows
  for (size_t i : activations)
    if (i < inputs.size() && inputs[i]) nhwc_inputs[i] = &nhwc.emplace_back(to_nhwc(*inputs[i]));
  return to_nchw(run_node(channels_last(node), nhwc_inputs, opset, backend, graph).at(0));
}

// An octet INT8 node (domain "octet") with unit x/y scales and `channels` unit
// weight scales unless `attrs` sets them.
inline Node unit_scale_int8_node(const std::string& op_type, std::map<std::string, Attribute> attrs,
                                 size_t channels, size_t n_inputs) {
  attrs.emplace("x_scale", 1.0f);
  attrs.emplace("w_scales", std::vector<float>(channels, 1.0f));
  attrs.emplace("y_scale", 1.0f);
  Node n = make_node(op_type, n_inputs, 1, std::move(attrs));
  n.domain = "octet";
  return n;
}

// Hands every run of a node the same output buffer, as an execution context's
// arena does, so that timings do not include fresh pages.
class ReusedOutput : public OutputAllocator {
 public:
  Tensor allocate(size_t, DType dtype, const Shape& shape) override {
    if (buffer_.dtype() != dtype || buffer_.shape() != shape) buffer_ = Tensor(dtype, shape);
    return buffer_;  // shares the buffer
  }

 private:
  Tensor buffer_;
};

// Not an assertion: the median seconds per run of `kernel` (bound to `node`) over
// `runs` runs after one warm-up run.
inline double median_seconds_per_run(const PreparedKernel& kernel, const Node& node, int64_t opset,
                                     const std::vector<const Tensor*>& inputs, int runs) {
  ReusedOutput output;
  std::vector<double> times;
  for (int r = 0; r <= runs; ++r) {
    KernelContext ctx{node, opset, inputs, std::vector<Tensor>(node.outputs.size()), &output};
    const auto start = std::chrono::steady_clock::now();
    kernel.run(ctx);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) times.push_back(t);  // the first run warms the pages and caches
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Milliseconds per run of each of `kernels` on the same node and inputs: the better
// of `rounds` medians each, the kernels taking turns (a shared machine's speed drifts).
inline std::vector<double> alternating_median_ms(const std::vector<const PreparedKernel*>& kernels, const Node& node,
                                                 int64_t opset, const std::vector<const Tensor*>& inputs,
                                                 int rounds = 3) {
  std::vector<double> ms(kernels.size(), 1e300);
  for (int round = 0; round < rounds; ++round)
    for (size_t i = 0; i < kernels.size(); ++i)
      ms[i] = std::min(ms[i], 1e3 * median_seconds_per_run(*kernels[i], node, opset, inputs, 5));
  return ms;
}

}  // namespace octet::testing
