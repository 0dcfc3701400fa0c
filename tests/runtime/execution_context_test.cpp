// Execution contexts: many contexts run one engine at once, each on its own
// thread, with results bit-identical to a single context's; the planned
// activation arena reuses memory, and outputs with it equal outputs without it.
#include "octet/execution_context.h"

#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include "octet/builder.h"
#include "octet/calibration_data.h"
#include "octet/engine.h"
#include "octet/npy.h"
#include "octet/onnx_importer.h"
#include "octet/parallel.h"
#include "runtime/memory_planner.h"
#include "support/expect_identical.h"
#include "support/sample_engines.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::build_int8_sample_engine;
using octet::testing::expect_identical;
using octet::testing::random_images;
using octet::testing::sample_model;
using octet::testing::TempDir;

namespace {

// Feeds of two batch sizes, so each context plans for more than one input shape.
std::vector<TensorMap> feeds(int count) {
  std::vector<TensorMap> out;
  for (int i = 0; i < count; ++i) out.push_back({{"input", random_images(i % 2 ? 4 : 1, 100 + i)}});
  return out;
}

TensorMap deep_copy(const TensorMap& m) {
  TensorMap out;
  for (const auto& [name, t] : m) out[name] = t.clone();
  return out;
}

// Bytes of every value the nodes produce (the memory a run needs with no reuse).
size_t sum_of_intermediates(const Executor& executor, const TensorMap& feed) {
  size_t total = 0;
  executor.run(feed, [&](const std::string&, const Tensor& t) { total += t.nbytes(); });
  return total;
}

// The engines are built once for the whole suite: lenet INT8 (calibrated on
// random data) and resnet FP32.
class ExecutionContexts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    lenet_int8_ = new Engine(build_int8_sample_engine("lenet", 32));
    resnet_fp32_ = new Engine(build_engine(import_onnx_file(sample_model("resnet")), BuilderConfig{}));
  }
  static void TearDownTestSuite() {
    delete lenet_int8_;
    delete resnet_fp32_;
  }

  static Engine* lenet_int8_;
  static Engine* resnet_fp32_;
};
Engine* ExecutionContexts::lenet_int8_ = nullptr;
Engine* ExecutionContexts::resnet_fp32_ = nullptr;

// 8 threads, each with its own context on one engine, run every feed several
// times in a thread-specific order; every result equals one context's, bit for bit.
void expect_concurrent_runs_match(const Engine& engine) {
  constexpr int kThreads = 8, kFeeds = 6, kRounds = 3;
  const std::vector<TensorMap> inputs = feeds(kFeeds);
  ExecutionContext single = engine.create_execution_context();
  std::vector<TensorMap> expected;
  for (const auto& feed : inputs) expected.push_back(deep_copy(single.execute(feed)));

  std::vector<std::vector<TensorMap>> got(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        ExecutionContext context = engine.create_execution_context();
        for (int k = 0; k < kFeeds * kRounds; ++k) got[t].push_back(context.execute(inputs[(t + k) % kFeeds]));
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    for (int k = 0; k < kFeeds * kRounds; ++k)
      expect_identical(got[t][k], expected[(t + k) % kFeeds], "thread " + std::to_string(t) + " run " + std::to_string(k));
  }
}

}  // namespace

TEST_F(ExecutionContexts, ConcurrentContextsOnInt8Lenet) { expect_concurrent_runs_match(*lenet_int8_); }
TEST_F(ExecutionContexts, ConcurrentContextsOnFp32Resnet) { expect_concurrent_runs_match(*resnet_fp32_); }

// The same with two kernel threads: contexts then contend for the shared pool.
TEST_F(ExecutionContexts, ConcurrentContextsWithParallelKernels) {
  set_num_threads(2);
  expect_concurrent_runs_match(*resnet_fp32_);
  expect_concurrent_runs_match(*lenet_int8_);
  set_num_threads(1);
}

TEST_F(ExecutionContexts, ArenaOutputsEqualHeapOutputs) {
  for (const Engine* engine : {lenet_int8_, resnet_fp32_}) {
    ExecutionContext context = engine->create_execution_context();
    const Executor heap = engine->make_executor();
    // The first run of each batch size records sizes (heap); the others use the arena.
    for (const auto& feed : feeds(4))
      for (int run = 0; run < 2; ++run) expect_identical(context.execute(feed), heap.run(feed), "run " + std::to_string(run));
    EXPECT_GT(context.peak_activation_bytes(), 0u);
  }
}

// Outputs handed out are never arena memory: later runs leave them untouched.
TEST_F(ExecutionContexts, OutputsSurviveLaterRuns) {
  ExecutionContext context = resnet_fp32_->create_execution_context();
  const std::vector<TensorMap> inputs = feeds(2);
  context.execute(inputs[0]);
  const TensorMap kept = context.execute(inputs[0]);
  const TensorMap copy = deep_copy(kept);
  for (int k = 0; k < 3; ++k) context.execute(inputs[k % 2]);
  expect_identical(kept, copy, "outputs after later runs");
}

// The observer sees every value in arena runs too, with the heap run's contents.
TEST_F(ExecutionContexts, ObserverSeesArenaValues) {
  const TensorMap feed = feeds(1)[0];
  TensorMap heap_values, arena_values;
  resnet_fp32_->make_executor().run(feed, [&](const std::string& name, const Tensor& t) { heap_values[name] = t.clone(); });
  ExecutionContext context = resnet_fp32_->create_execution_context();
  context.execute(feed);
  context.execute(feed, [&](const std::string& name, const Tensor& t) { arena_values[name] = t.clone(); });
  expect_identical(arena_values, heap_values, "observed values");
}

TEST_F(ExecutionContexts, ArenaReuseReducesMemory) {
  const TensorMap feed = {{"input", random_images(8, 3)}};
  for (const auto& [name, engine] : {std::pair{"lenet int8", lenet_int8_}, std::pair{"resnet fp32", resnet_fp32_}}) {
    ExecutionContext context = engine->create_execution_context();
    context.execute(feed);
    const size_t total = sum_of_intermediates(context.executor(), feed);
    std::cout << name << ", batch 8: intermediates " << total << " bytes, planned arena "
              << context.peak_activation_bytes() << " bytes\n";
    EXPECT_GT(context.peak_activation_bytes(), 0u) << name;
    EXPECT_LT(context.peak_activation_bytes(), total) << name;
  }
}

TEST_F(ExecutionContexts, ContextsShareTheEnginesExecutor) {
  ExecutionContext a = resnet_fp32_->create_execution_context();
  ExecutionContext b = resnet_fp32_->create_execution_context();
  EXPECT_EQ(&a.executor(), &b.executor());
  const Engine copy = *resnet_fp32_;
  EXPECT_EQ(&copy.create_execution_context().executor(), &a.executor());
}

// A graph output that views an intermediate (Flatten of a Relu) keeps that
// intermediate on the heap, so later runs cannot overwrite it.
TEST(ExecutionContext, GraphOutputViewingAnIntermediate) {
  Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back({"x", DType::kFloat32});
  g.outputs.push_back({"flat", DType::kFloat32});
  g.outputs.push_back({"y", DType::kFloat32});
  g.nodes = {Node{"relu", "Relu", "", {"x"}, {"r"}, {}}, Node{"flatten", "Flatten", "", {"r"}, {"flat"}, {}},
             Node{"double", "Add", "", {"x", "x"}, {"n"}, {}}, Node{"relu2", "Relu", "", {"n"}, {"y"}, {}}};
  ExecutionContext context(std::make_shared<const Executor>(g));
  auto feed = [](float v) {
    Tensor x(DType::kFloat32, {2, 3});
    for (int i = 0; i < 6; ++i) x.data<float>()[i] = v * (i - 2);
    return TensorMap{{"x", x}};
  };
  context.execute(feed(1));
  const TensorMap kept = context.execute(feed(1));
  expect_identical(kept, context.executor().run(feed(1)), "arena run");
  const TensorMap copy = deep_copy(kept);
  context.execute(feed(-5));
  expect_identical(kept, copy, "outputs after a later run");
}

TEST(MemoryPlanner, LiveBlocksNeverOverlapAndDeadOnesAreReused) {
  // A chain a -> b -> c -> d, plus e live throughout.
  const std::vector<LiveBlock> blocks = {{1000, 0, 1}, {500, 1, 2}, {1000, 2, 3}, {200, 3, 3}, {100, 0, 3}};
  const ArenaLayout layout = layout_arena(blocks);
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % 64, 0u);
    for (size_t j = 0; j < i; ++j) {
      const bool live_together = blocks[i].first <= blocks[j].last && blocks[j].first <= blocks[i].last;
      const bool overlap = layout.offsets[i] < layout.offsets[j] + blocks[j].bytes &&
                           layout.offsets[j] < layout.offsets[i] + blocks[i].bytes;
      EXPECT_FALSE(live_together && overlap) << "blocks " << i << " and " << j;
    }
  }
  EXPECT_EQ(layout.offsets[2], layout.offsets[0]);  // c reuses a's memory
  EXPECT_LT(layout.bytes, 1024u + 512 + 1024 + 256 + 128);
}

TEST(MemoryPlanner, AViewExtendsItsSourcesLifetime) {
  // r = Relu(x); v = Reshape(r) (a view); a = Relu(x); b = Relu(v): r must stay live until b.
  Graph g;
  g.inputs.push_back({"x", DType::kFloat32});
  g.outputs.push_back({"b", DType::kFloat32});
  g.nodes = {Node{"n0", "Relu", "", {"x"}, {"r"}, {}}, Node{"n1", "Reshape", "", {"r", "shape"}, {"v"}, {}},
             Node{"n2", "Relu", "", {"x"}, {"a"}, {}}, Node{"n3", "Relu", "", {"v"}, {"b"}, {}}};
  const std::vector<std::vector<RecordedOutput>> recorded = {
      {{256, true, -1}}, {{256, false, 0}}, {{256, true, -1}}, {{256, true, -1}}};
  const ActivationPlan plan = plan_activations(g, recorded);
  const OutputPlacement &r = plan.outputs[0][0], &v = plan.outputs[1][0], &a = plan.outputs[2][0],
                        &b = plan.outputs[3][0];
  EXPECT_EQ(r.bytes, 256u);
  EXPECT_EQ(v.bytes, 0u);  // the view has no memory of its own
  EXPECT_EQ(v.aliased_input, 0);
  EXPECT_EQ(a.bytes, 256u);
  EXPECT_NE(a.offset, r.offset);  // r is still live (through v) when a is made
  EXPECT_EQ(b.bytes, 0u);         // graph output: on the heap
  EXPECT_EQ(plan.arena_bytes, 512u);
}
