// Sub-batches: which layers keep samples apart (a table of small graphs), the
// builder's choice and its timing cache, and contexts that split a batch giving
// the outputs of whole-batch runs.
#include "builder/sub_batch.h"

#include <gtest/gtest.h>

#include <cstring>

#include "octet/builder.h"
#include "octet/engine.h"
#include "passes/pass_testing.h"
#include "support/sample_engines.h"

using namespace octet;
using namespace octet::pass_testing;
using octet::testing::random_images;

namespace {

constexpr int64_t kBatch = 3;

// Why a one-node graph on x [3, 4] (or [3, 4, 2, 2] when `rank4`) -> y of shape `y_shape` cannot run in sub-batches.
std::string why_not(Node node, const Shape& y_shape, std::map<std::string, Tensor> weights = {}, bool rank4 = false) {
  const Shape x_shape = rank4 ? Shape{kBatch, 4, 2, 2} : Shape{kBatch, 4};
  node.inputs.insert(node.inputs.begin(), "x");
  node.outputs = {"y"};
  Graph g = make_graph({float_value("x", x_shape)}, {float_value("y", y_shape)}, {node}, std::move(weights));
  return why_not_per_sample(g, {{"x", x_shape}, {"y", y_shape}}, kBatch);
}

Node op(const std::string& type, std::vector<std::string> more_inputs = {}, std::map<std::string, Attribute> attrs = {}) {
  return make_node(type, std::move(more_inputs), {"y"}, std::move(attrs));
}

Tensor weight(const Shape& shape) { return Tensor(DType::kFloat32, shape); }

bool mentions(const std::string& why, const std::string& text) { return why.find(text) != std::string::npos; }

void expect_same_outputs(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name << " differs";
  }
}

}  // namespace

TEST(SubBatch, LayersThatKeepSamplesApart) {
  EXPECT_EQ(why_not(op("Relu"), {kBatch, 4}), "");
  EXPECT_EQ(why_not(op("Softmax", {}, {{"axis", int64_t{1}}}), {kBatch, 4}), "");
  EXPECT_EQ(why_not(op("Transpose", {}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}}), {kBatch, 2, 2, 4}, {}, true), "");
  EXPECT_EQ(why_not(op("Reshape", {"s"}), {kBatch, 2, 2}, {{"s", int64_tensor({3}, {0, 2, 2})}}), "");
  EXPECT_EQ(why_not(op("Reshape", {"s"}), {kBatch, 16}, {{"s", int64_tensor({2}, {-1, 16})}}, true), "");
  EXPECT_EQ(why_not(op("Flatten"), {kBatch, 16}, {}, true), "");
  EXPECT_EQ(why_not(op("Gemm", {"w", "b"}), {kBatch, 5}, {{"w", weight({4, 5})}, {"b", weight({5})}}), "");
  EXPECT_EQ(why_not(op("MatMul", {"w"}), {kBatch, 5}, {{"w", weight({4, 5})}}), "");
  EXPECT_EQ(why_not(op("Add", {"w"}), {kBatch, 4}, {{"w", weight({1, 4})}}), "");
  EXPECT_EQ(why_not(op("Mul", {"w"}), {kBatch, 4, 2, 2}, {{"w", weight({4, 1, 1})}}, true), "");
  EXPECT_EQ(why_not(op("ReduceMean", {}, {{"axes", std::vector<int64_t>{2, 3}}}), {kBatch, 4, 1, 1}, {}, true), "");
  EXPECT_EQ(why_not(op("Unsqueeze", {"a"}), {kBatch, 4, 1}, {{"a", int64_tensor({1}, {-1})}}), "");
  EXPECT_EQ(why_not(op("Concat", {"x"}, {{"axis", int64_t{-1}}}), {kBatch, 8}), "");
}

TEST(SubBatch, LayersThatMixSamplesOrFixTheBatch) {
  EXPECT_TRUE(mentions(why_not(op("Transpose", {}, {{"perm", std::vector<int64_t>{1, 0}}}), {4, kBatch}),
                       "does not have the batch as dim 0"));
  EXPECT_TRUE(mentions(why_not(op("Transpose", {}, {{"perm", std::vector<int64_t>{1, 0}}}), {kBatch, kBatch}),
                       "moves the batch axis"));  // dim 0 happens to equal the batch
  EXPECT_TRUE(mentions(why_not(op("Softmax", {}, {{"axis", int64_t{0}}}), {kBatch, 4}), "batch axis"));
  EXPECT_TRUE(mentions(why_not(op("Reshape", {"s"}), {kBatch, 16}, {{"s", int64_tensor({2}, {3, 16})}}, true),
                       "fixes the batch size"));
  EXPECT_TRUE(mentions(why_not(op("Gemm", {"w"}, {{"transA", int64_t{1}}}), {kBatch, 5}, {{"w", weight({kBatch, 5})}}),
                       "transA"));
  EXPECT_TRUE(mentions(why_not(op("Gemm", {"w", "c"}), {kBatch, 5}, {{"w", weight({4, 5})}, {"c", weight({kBatch, 5})}}),
                       "varies along the batch axis"));
  EXPECT_TRUE(mentions(why_not(op("Add", {"w"}), {kBatch, 4}, {{"w", weight({kBatch, 4})}}), "varies along the batch"));
  EXPECT_TRUE(mentions(why_not(op("ReduceMean"), {1, 1}), "does not have the batch"));
  EXPECT_TRUE(mentions(why_not(op("ReduceMean", {}, {{"axes", std::vector<int64_t>{0}}}), {kBatch, 4}), "batch axis"));
  EXPECT_TRUE(mentions(why_not(op("ReduceSum"), {kBatch, 4}), "no constant axes"));
  EXPECT_TRUE(mentions(why_not(op("Unsqueeze", {"a"}), {1, kBatch, 4}, {{"a", int64_tensor({1}, {0})}}),
                       "does not have the batch"));
  EXPECT_TRUE(mentions(why_not(op("Concat", {"w"}, {{"axis", int64_t{1}}}), {kBatch, 8}, {{"w", weight({kBatch, 4})}}),
                       "concatenates a constant"));
  EXPECT_TRUE(mentions(why_not(op("Shape"), {kBatch}), "not known to keep samples apart"));
  EXPECT_TRUE(mentions(why_not(op("Relu"), {2, 4}), "does not have the batch as dim 0"));
}

TEST(SubBatch, ContextSplitsABatchIntoSubBatchesWithTheSameOutputs) {
  auto executor = std::make_shared<const Executor>(sample_model("lenet"));
  const TensorMap feed{{"input", random_images(7, 5)}};
  ExecutionContext whole(executor), split(executor, 3);  // 3 + 3 + 1 samples
  const TensorMap expected = whole.execute(feed);
  expect_same_outputs(split.execute(feed), expected);
  expect_same_outputs(split.execute(feed), expected);  // the planned (arena) runs too
  EXPECT_LT(split.peak_activation_bytes(), whole.peak_activation_bytes() / 2);
  // An observer sees whole-batch values: such runs are not split.
  int64_t seen_batch = 0;
  split.execute(feed, [&](const std::string&, const Tensor& t) { seen_batch = t.dim(0); });
  EXPECT_EQ(seen_batch, 7);
}

TEST(SubBatch, BuilderRecordsTheSubBatchInThePlanAndRefusesMixingNetworks) {
  BuilderConfig config;
  config.kernel_timing_batch = 8;
  config.sub_batch = 4;
  Engine engine = build_engine(sample_model("lenet"), config);
  EXPECT_EQ(engine.info().sub_batch, 4);
  Engine loaded = Engine::deserialize(engine.serialize(), "lenet.plan");
  EXPECT_EQ(loaded.info().sub_batch, 4);
  EXPECT_EQ(loaded.create_execution_context().sub_batch(), 4);

  Graph mixing = make_graph({float_value("x", {-1, 4})}, {float_value("y", {4, -1})},
                            {make_node("Transpose", {"x"}, {"y"}, {{"perm", std::vector<int64_t>{1, 0}}})});
  config.select_kernels = false;
  try {
    build_engine(mixing, config);
    FAIL() << "a Transpose of the batch axis was split";
  } catch (const Error& e) {
    EXPECT_TRUE(mentions(e.what(), "Transpose")) << e.what();
    EXPECT_TRUE(mentions(e.what(), "batch as dim 0")) << e.what();
  }
  config.sub_batch = -1;  // automatic: a mixing network runs whole
  EXPECT_EQ(build_engine(mixing, config).info().sub_batch, 0);
}

TEST(SubBatch, ChoiceIsTimedOnceAndReadFromTheTimingCache) {
  const Graph g = sample_model("lenet");
  TimingCache cache;
  TacticOptions options;
  options.batch = 8;
  options.min_time_ms = 1;
  std::string message;
  const int64_t chosen = choose_sub_batch(g, cache, options, -1, [&](const std::string& m) { message = m; });
  EXPECT_TRUE(chosen == 0 || chosen == 1 || chosen == 2 || chosen == 4) << chosen;
  EXPECT_TRUE(mentions(message, "batch 8 runs")) << message;
  EXPECT_EQ(cache.size(), 4u);  // the whole batch and sub-batches of 1, 2 and 4
  EXPECT_EQ(choose_sub_batch(g, cache, options, -1, [](const std::string&) {}), chosen);
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_EQ(choose_sub_batch(g, cache, options, 0, [](const std::string&) {}), 0);
}
