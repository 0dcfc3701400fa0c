// GPU engines (Device::kCuda) of the sample models: outputs bit-identical to the
// CPU engine's (both follow docs/int8_kernels.md exactly), several contexts on
// several threads, more than one input shape per context (captured CUDA graphs,
// arena growth), and the plan round trip. Skipped, saying why, without a CUDA device.
#include <gtest/gtest.h>

#include <thread>

#include "octet/device.h"
#include "octet/engine.h"
#include "passes/pass_testing.h"
#include "support/expect_identical.h"
#include "support/gpu_skip.h"
#include "support/sample_engines.h"

using namespace octet;
using octet::testing::build_int8_sample_engine;
using octet::testing::expect_identical;
using octet::testing::random_images;

namespace {

class CudaEngine : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaEngine, OutputsEqualTheCpuEnginesBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Engine cpu = build_int8_sample_engine(GetParam(), 64);
  const Engine gpu = build_int8_sample_engine(GetParam(), 64, Device::kCuda);
  EXPECT_EQ(gpu.info().device, Device::kCuda);
  for (const auto& node : gpu.graph().nodes) EXPECT_EQ(node.backend, "cuda") << node.describe();
  ExecutionContext cpu_context = cpu.create_execution_context(), gpu_context = gpu.create_execution_context();
  for (int64_t batch : {1, 7, 64}) {
    const TensorMap feed = {{"input", random_images(batch, static_cast<uint32_t>(batch))}};
    const TensorMap expected = cpu_context.execute(feed);
    // The first run records the memory plan, the second captures a CUDA graph, the third replays it.
    for (int run = 0; run < 3; ++run)
      expect_identical(expected, gpu_context.execute(feed), std::string(GetParam()) + " batch " +
                                                                std::to_string(batch) + " run " + std::to_string(run));
    EXPECT_GT(gpu_context.last_gpu_compute_ms(), 0.0);
  }
}

// Stride-2 convolutions over few channels (ResNet's 7x7 stem, asymmetric pads, odd
// sizes: im2col with padding taps and padded depth): the CPU's outputs bit for bit.
TEST(CudaEngineStems, StrideTwoFewChannelConvolutionsEqualTheCpu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  using namespace octet::pass_testing;
  const Graph network = make_graph(
      {float_value("input", {-1, 3, 37, 35})}, {float_value("a", {-1, 32, 19, 18}), float_value("b", {-1, 16, 19, 17})},
      {make_node("Conv", {"input", "w7", "b7"}, {"c7"}, {{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{3, 3, 3, 3}}}),
       make_node("Relu", {"c7"}, {"a"}),
       make_node("Conv", {"input", "w3"}, {"b"}, {{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 0, 1, 1}}})},
      {{"w7", random_tensor({32, 3, 7, 7}, 3)}, {"b7", random_tensor({32}, 4)}, {"w3", random_tensor({16, 3, 3, 3}, 5)}});
  const Engine cpu = octet::testing::build_int8_engine(network, octet::testing::random_input({32, 3, 37, 35}, 1));
  const Engine gpu =
      octet::testing::build_int8_engine(network, octet::testing::random_input({32, 3, 37, 35}, 1), Device::kCuda);
  ExecutionContext cpu_context = cpu.create_execution_context(), gpu_context = gpu.create_execution_context();
  for (int64_t batch : {1, 5}) {
    const TensorMap feed = {{"input", octet::testing::random_input({batch, 3, 37, 35}, 9)}};
    const TensorMap expected = cpu_context.execute(feed);
    for (int run = 0; run < 2; ++run)
      expect_identical(expected, gpu_context.execute(feed), "batch " + std::to_string(batch));
  }
}

TEST_P(CudaEngine, ContextsOnSeveralThreadsMatchOneContext) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Engine gpu = build_int8_sample_engine(GetParam(), 64, Device::kCuda);
  std::vector<TensorMap> feeds, expected;
  ExecutionContext single = gpu.create_execution_context();
  for (int i = 0; i < 6; ++i) {
    feeds.push_back({{"input", random_images(i % 2 ? 32 : 3, 200 + i)}});
    expected.push_back(single.execute(feeds.back()));
  }
  std::vector<std::thread> threads;
  std::vector<std::vector<TensorMap>> got(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ExecutionContext context = gpu.create_execution_context();
      for (int round = 0; round < 3; ++round)
        for (const auto& feed : feeds) got[t].push_back(context.execute(feed));
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t)
    for (size_t i = 0; i < got[t].size(); ++i)
      expect_identical(expected[i % feeds.size()], got[t][i], "thread " + std::to_string(t) + " run " + std::to_string(i));
}

TEST_P(CudaEngine, PlanRoundTripRecordsTheGpu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Engine gpu = build_int8_sample_engine(GetParam(), 64, Device::kCuda);
  const std::string plan = gpu.serialize();
  EXPECT_NE(plan.find(cuda_device_target()), std::string::npos);
  const Engine loaded = Engine::deserialize(plan, "gpu.plan");
  EXPECT_EQ(loaded.info().device, Device::kCuda);
  const TensorMap feed = {{"input", random_images(5, 9)}};
  expect_identical(gpu.create_execution_context().execute(feed), loaded.create_execution_context().execute(feed),
                   "loaded plan");
}

INSTANTIATE_TEST_SUITE_P(SampleModels, CudaEngine, ::testing::Values("lenet", "resnet", "mobilenetv2"));

TEST(CudaEngineWithoutGpu, BuildFailsNamingTheReason) {
  const std::string why = why_no_cuda_device();
  if (why.empty()) GTEST_SKIP() << "this machine has a CUDA device";
  try {
    build_int8_sample_engine("lenet", 16, Device::kCuda);
    FAIL() << "built a GPU engine without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda: " + why), std::string::npos) << e.what();
  }
}

}  // namespace
