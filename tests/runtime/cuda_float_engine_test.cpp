// FP32 and FP16 GPU engines (--device cuda without --int8, and with --fp16): the
// outputs of the CPU's FP32 engine, within float rounding (FP32: other summation
// orders) or half precision (FP16), on the sample models and on a network with every
// float layer kind the CUDA backend runs. The FP16 conversion pass's graph is checked
// on any machine; the engines skip, saying why, without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "octet/builder.h"
#include "octet/engine.h"
#include "passes/pass_testing.h"
#include "passes/passes.h"
#include "support/gpu_skip.h"
#include "support/sample_engines.h"

using namespace octet;
using namespace octet::pass_testing;
using octet::testing::random_images;

namespace {

Engine build_float_engine(const Graph& network, Device device, bool fp16 = false) {
  BuilderConfig config;
  config.device = device;
  config.fp16 = fp16;
  return build_engine(network, config);
}

// Every output element within `relative` x the output's largest magnitude of the expected value.
// FP32 gets 1e-4: a K-term float sum may move by K x 2^-24 of its terms' magnitude when
// summed in another order (cuBLASLt's, not the CPU kernels'), and the sample models stack a
// dozen layers with K in the hundreds; a wrong layout or weight is off by O(1).
void expect_close(const TensorMap& expected, const TensorMap& got, double relative, const std::string& what) {
  ASSERT_EQ(expected.size(), got.size()) << what;
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(got.count(name)) << what << ": " << name;
    const Tensor& t = got.at(name);
    ASSERT_EQ(t.dtype(), DType::kFloat32) << what << ": " << name;
    ASSERT_EQ(t.shape(), want.shape()) << what << ": " << name;
    const Difference d = difference(want, t);
    EXPECT_TRUE(d.within(relative, 1e-6)) << what << ": " << name << " off by " << d.worst << " (largest |value| "
                                    << d.largest << ", allowed " << relative << " of it)";
  }
}

// Every layer kind of the float kernels: pointwise, strided and padded, depthwise
// convolutions with each activation, a residual sum, a fused MaxPool, Gemm, MatMul,
// standalone Relu and Add.
Graph every_float_layer() {
  auto pads = [](std::vector<int64_t> p) { return Attribute(p); };
  return make_graph(
      {float_value("input", {-1, 8, 15, 13})}, {float_value("sum", {-1, 10}), float_value("projected", {-1, 5})},
      {make_node("Conv", {"input", "w1", "b1"}, {"c1"}),
       make_node("Relu", {"c1"}, {"a1"}),
       make_node("Conv", {"a1", "w2", "b2"}, {"c2"}, {{"strides", pads({2, 2})}, {"pads", pads({1, 1, 1, 0})}}),
       make_node("Clip", {"c2", "lo", "hi"}, {"a2"}),
       make_node("Conv", {"a2", "w3", "b3"}, {"c3"}, {{"group", int64_t{16}}, {"pads", pads({1, 1, 1, 1})}}),
       make_node("LeakyRelu", {"c3"}, {"a3"}, {{"alpha", 0.1f}}),
       make_node("Conv", {"a3", "w4"}, {"c4"}),
       make_node("Add", {"c4", "a2"}, {"r4"}),
       make_node("Sigmoid", {"r4"}, {"a4"}),
       make_node("MaxPool", {"a4"}, {"p4"}, {{"kernel_shape", pads({2, 2})}, {"strides", pads({2, 2})}}),
       make_node("Flatten", {"p4"}, {"flat"}),
       make_node("Relu", {"flat"}, {"r"}),
       make_node("Gemm", {"r", "wg", "bg"}, {"g1"}, {{"transB", int64_t{1}}, {"alpha", 0.5f}}),
       make_node("Gemm", {"flat", "wh"}, {"g2"}),
       make_node("Add", {"g1", "g2"}, {"sum"}),
       make_node("MatMul", {"flat", "wm"}, {"projected"})},
      {{"w1", random_tensor({16, 8, 1, 1}, 1)}, {"b1", random_tensor({16}, 2)},
       {"w2", random_tensor({16, 16, 3, 3}, 3)}, {"b2", random_tensor({16}, 4)},
       {"lo", scalar(0.0f)}, {"hi", scalar(1.5f)},
       {"w3", random_tensor({16, 1, 3, 3}, 5)}, {"b3", random_tensor({16}, 6)},
       {"w4", random_tensor({16, 16, 1, 1}, 7)},
       {"wg", random_tensor({10, 192}, 8)}, {"bg", random_tensor({10}, 9)},
       {"wh", random_tensor({192, 10}, 10)},
       {"wm", random_tensor({192, 5}, 11)}});
}

TEST(Float16Conversion, CastsAtTheEdgesAndHalfWeights) {
  Graph g = every_float_layer();
  const size_t nodes = g.nodes.size();
  EXPECT_EQ(convert_to_float16(g), 3);  // one input, two outputs
  EXPECT_EQ(g.nodes.size(), nodes + 3);
  EXPECT_EQ(g.nodes.front().op_type, "Cast");
  EXPECT_EQ(g.nodes.front().inputs[0], "input");
  EXPECT_EQ(g.nodes.front().attr_int("to"), static_cast<int64_t>(DType::kFloat16));
  EXPECT_EQ(g.nodes.back().op_type, "Cast");
  EXPECT_EQ(g.nodes.back().attr_int("to"), static_cast<int64_t>(DType::kFloat32));
  // Weights and biases become float16; Clip's bounds stay float32 (kernels read them when prepared).
  for (const auto& [name, t] : g.initializers)
    EXPECT_EQ(t.dtype(), name == "lo" || name == "hi" ? DType::kFloat32 : DType::kFloat16) << name;
  EXPECT_FLOAT_EQ(half_to_float(g.initializers.at("b1").data<uint16_t>()[0]),
                  half_to_float(float_to_half(every_float_layer().initializers.at("b1").data<float>()[0])));
  // The graph keeps its float32 interface; nothing reads the float32 input but the Cast.
  EXPECT_EQ(g.inputs[0].dtype, DType::kFloat32);
  EXPECT_EQ(g.outputs[0].dtype, DType::kFloat32);
  for (size_t i = 1; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs) EXPECT_NE(in, "input") << g.nodes[i].describe();
  EXPECT_NO_THROW(g.sort_topologically());
}

// The sample models' weights in half precision: each the nearest half of its float32
// value (within half an ulp: 2^-11 relative for normal halves, 2^-25 absolute for the
// subnormals below 2^-14, where trained networks keep many small weights), none NaN.
TEST(Float16Conversion, SampleModelWeightsAreTheirNearestHalves) {
  for (const char* model : {"lenet", "resnet", "mobilenetv2"}) {
    Graph g = import_onnx_file(octet::testing::sample_model(model));
    optimize_graph(g, {});
    const Graph original = g;
    convert_to_float16(g);
    int64_t halved = 0, below_min_normal = 0;
    for (const auto& [name, t] : g.initializers) {
      if (t.dtype() != DType::kFloat16) continue;
      const Tensor& before = original.initializers.at(name);
      for (int64_t i = 0; i < t.numel(); ++i) {
        const double want = before.get_as_double(i), got = t.get_as_double(i);
        const bool tiny = std::abs(want) < 0x1p-14;
        below_min_normal += tiny && want != 0;
        ASSERT_LE(std::abs(got - want), tiny ? 0x1p-25 : std::abs(want) * 0x1p-11) << model << " " << name << "[" << i << "]";
      }
      halved += t.numel();
    }
    EXPECT_GT(halved, 1000) << model;
    std::printf("%s: %lld weights in half precision, %lld of them below 2^-14 (subnormal or zero as halves)\n",
                model, static_cast<long long>(halved), static_cast<long long>(below_min_normal));
  }
}

TEST(CudaFloatLayers, EveryLayerKindMatchesTheCpu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Graph network = every_float_layer();
  const Engine cpu = build_float_engine(network, Device::kCpu);
  const Engine fp32 = build_float_engine(network, Device::kCuda);
  const Engine fp16 = build_float_engine(network, Device::kCuda, true);
  EXPECT_EQ(fp32.info().precision, "fp32");
  EXPECT_EQ(fp16.info().precision, "fp16");
  ExecutionContext cpu_context = cpu.create_execution_context();
  ExecutionContext fp32_context = fp32.create_execution_context(), fp16_context = fp16.create_execution_context();
  for (int64_t batch : {1, 6}) {
    const TensorMap feed = random_inputs(network, batch, static_cast<uint32_t>(batch));
    const TensorMap expected = cpu_context.execute(feed);
    for (int run = 0; run < 3; ++run) {
      const std::string what = "batch " + std::to_string(batch) + " run " + std::to_string(run);
      expect_close(expected, fp32_context.execute(feed), 1e-4, "FP32 " + what);
      expect_close(expected, fp16_context.execute(feed), 1e-2, "FP16 " + what);
    }
  }
}

class CudaFloatEngine : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaFloatEngine, Fp32AndFp16MatchTheCpu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Graph network = import_onnx_file(octet::testing::sample_model(GetParam()));
  const Engine cpu = build_float_engine(network, Device::kCpu);
  const Engine fp32 = build_float_engine(network, Device::kCuda);
  const Engine fp16 = build_float_engine(network, Device::kCuda, true);
  for (const auto& node : fp16.graph().nodes) {
    EXPECT_EQ(node.backend, "cuda") << node.describe();
    if (node.op_type == "Conv" || node.op_type == "FusedConv" || node.op_type == "Gemm")
      EXPECT_EQ(fp16.layer_precision(node), "fp16") << node.describe();
  }
  ExecutionContext cpu_context = cpu.create_execution_context();
  ExecutionContext fp32_context = fp32.create_execution_context(), fp16_context = fp16.create_execution_context();
  for (int64_t batch : {1, 7, 64}) {
    const TensorMap feed = {{"input", random_images(batch, static_cast<uint32_t>(batch))}};
    const TensorMap expected = cpu_context.execute(feed);
    for (int run = 0; run < 3; ++run) {
      const std::string what = std::string(GetParam()) + " batch " + std::to_string(batch) + " run " + std::to_string(run);
      expect_close(expected, fp32_context.execute(feed), 1e-4, "FP32 " + what);
      expect_close(expected, fp16_context.execute(feed), 2e-2, "FP16 " + what);
    }
  }
  // The plan keeps the FP16 engine's half weights and the GPU target.
  const Engine loaded = Engine::deserialize(fp16.serialize(), "fp16.plan");
  EXPECT_EQ(loaded.info().precision, "fp16");
  const TensorMap feed = {{"input", random_images(3, 5)}};
  // (Within 1e-6, not bit for bit: cuBLASLt picks each product's kernel afresh per engine.)
  expect_close(fp16.create_execution_context().execute(feed), loaded.create_execution_context().execute(feed), 1e-6,
               "loaded FP16 plan");
}

// Layer by layer: every value the FP16 engine computes within 2e-2 of its largest
// magnitude in the FP32 GPU engine's run (same graph, same names, same layout), so
// a failure names the first layer whose kernel goes wrong in half precision.
TEST_P(CudaFloatEngine, Fp16ValuesFollowFp32LayerByLayer) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Graph network = import_onnx_file(octet::testing::sample_model(GetParam()));
  const Engine fp32 = build_float_engine(network, Device::kCuda);
  const Engine fp16 = build_float_engine(network, Device::kCuda, true);
  const TensorMap feed = {{"input", random_images(7, 11)}};
  std::map<std::string, Tensor> reference;
  fp32.create_execution_context().execute(feed, [&](const std::string& name, const Tensor& value) {
    reference.emplace(name, value.clone());
  });
  int compared = 0;
  fp16.create_execution_context().execute(feed, [&](const std::string& name, const Tensor& value) {
    auto it = reference.find(name);
    if (it == reference.end() || HasFailure()) return;  // the Casts' values; past the first bad layer
    const Tensor& want = it->second;
    ASSERT_EQ(value.shape(), want.shape()) << name;
    ++compared;
    const Difference d = difference(want, value);
    EXPECT_TRUE(d.within(2e-2, 1e-6)) << "value '" << name << "' " << std::string(dtype_name(value.dtype()))
                                << shape_str(value.shape()) << " is the first the FP16 engine gets wrong: off by "
                                << d.worst << " (largest |value| " << d.largest << ")";
  });
  EXPECT_GT(compared, 3);
}

INSTANTIATE_TEST_SUITE_P(SampleModels, CudaFloatEngine, ::testing::Values("lenet", "resnet", "mobilenetv2"));

}  // namespace
