#include <gtest/gtest.h>

#include "passes/graph_edit.h"
#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

namespace {

const std::vector<int64_t> kPads1 = {1, 1, 1, 1};

Node conv(const std::string& x, const std::string& w, const std::string& y) {
  return make_node("Conv", {x, w}, {y}, {{"pads", kPads1}});
}

std::vector<const Node*> transposes(const Graph& g) {
  std::vector<const Node*> found;
  for (const auto& n : g.nodes)
    if (n.op_type == "Transpose") found.push_back(&n);
  return found;
}

const Node& producer_of(const Graph& g, const std::string& value) {
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (o == value) return n;
  throw Error("no node writes " + value);
}

Shape declared_shape(const Graph& g, const std::string& name) {
  const ValueInfo* v = g.find_value(name);
  if (!v) throw Error("no value info for " + name);
  Shape s;
  for (const Dim& d : v->dims) s.push_back(d.value);
  return s;
}

}  // namespace

TEST(ChannelsLast, ConvActivationPoolRegionHasTransposesOnlyAtItsEnds) {
  const Graph original = make_graph(
      {float_value("x", {-1, 3, 8, 8})}, {float_value("y", {-1, 4, 4, 4})},
      {conv("x", "w", "c"), make_node("Relu", {"c"}, {"r"}),
       make_node("MaxPool", {"r"}, {"y"}, {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}})},
      {{"w", random_tensor({4, 3, 3, 3}, 1)}});
  Graph g = original;
  g.value_info["c"] = float_value("c", {-1, 4, 8, 8});
  g.value_info["r"] = float_value("r", {-1, 4, 8, 8});
  EXPECT_EQ(convert_to_channels_last(g), 3);
  ASSERT_EQ(transposes(g).size(), 2u);
  for (const char* op : {"Conv", "Relu", "MaxPool"}) EXPECT_TRUE(find_op(g, op)->channels_last()) << op;
  // The graph's input and output stay NCHW and keep their names.
  EXPECT_EQ(producer_of(g, "y").op_type, "Transpose");
  EXPECT_EQ(producer_of(g, "y").attr_ints("perm"), (std::vector<int64_t>{0, 3, 1, 2}));
  EXPECT_EQ(find_op(g, "Conv")->inputs[0], "x/nhwc");
  EXPECT_EQ(declared_shape(g, "c"), (Shape{-1, 8, 8, 4}));
  EXPECT_EQ(declared_shape(g, "x/nhwc"), (Shape{-1, 8, 8, 3}));
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ChannelsLast, ReadersThatStayNchwGetOneTransposeBack) {
  // Two convs, a residual Add, GlobalAveragePool, then Flatten and Gemm (NCHW only).
  const Graph original = make_graph(
      {float_value("x", {-1, 4, 6, 6})}, {float_value("y", {-1, 5})},
      {conv("x", "w1", "a"), conv("a", "w2", "b"), make_node("Add", {"a", "b"}, {"s"}),
       make_node("GlobalAveragePool", {"s"}, {"p"}), make_node("Flatten", {"p"}, {"f"}),
       make_node("Gemm", {"f", "fc"}, {"y"}), make_node("Flatten", {"s"}, {"unused"})},
      {{"w1", random_tensor({4, 4, 3, 3}, 1)}, {"w2", random_tensor({4, 4, 3, 3}, 2)}, {"fc", random_tensor({4, 5}, 3)}});
  Graph g = original;
  for (const char* v : {"a", "b", "s"}) g.value_info[v] = float_value(v, {-1, 4, 6, 6});
  g.value_info["p"] = float_value("p", {-1, 4, 1, 1});
  EXPECT_EQ(convert_to_channels_last(g), 4);  // two Convs, Add, GlobalAveragePool
  EXPECT_TRUE(find_op(g, "Add")->channels_last());
  EXPECT_FALSE(find_op(g, "Flatten")->channels_last());
  EXPECT_EQ(transposes(g).size(), 3u);  // x in; p and s back for the two Flattens
  EXPECT_EQ(find_op(g, "Flatten")->inputs[0].find("/nchw") != std::string::npos, true);
  expect_same_outputs(original, g, random_inputs(original), 1e-6);
}

TEST(ChannelsLast, BroadcastOperandsAndUnsupportedNodesKeepNchw) {
  // A per-channel bias [1, 4, 1, 1] broadcasts differently in NHWC: that Add stays
  // NCHW; a one-element constant does not care.
  const Graph original = make_graph(
      {float_value("x", {2, 3, 5, 5})}, {float_value("y", {2, 4, 5, 5})},
      {conv("x", "w", "c"), make_node("Mul", {"c", "half"}, {"m"}), make_node("Add", {"m", "bias"}, {"y"})},
      {{"w", random_tensor({4, 3, 3, 3}, 1)}, {"half", scalar(0.5f)}, {"bias", random_tensor({1, 4, 1, 1}, 2)}});
  Graph g = original;
  g.value_info["c"] = float_value("c", {2, 4, 5, 5});
  g.value_info["m"] = float_value("m", {2, 4, 5, 5});
  EXPECT_EQ(convert_to_channels_last(g), 2);  // Conv, Mul
  EXPECT_TRUE(find_op(g, "Mul")->channels_last());
  EXPECT_FALSE(find_op(g, "Add")->channels_last());
  expect_same_outputs(original, g, random_inputs(original), 1e-6);

  // MaxPool with its Indices output, and a 1-D Conv, have no NHWC form.
  Graph pool = make_graph({float_value("x", {1, 2, 4, 4})}, {float_value("y", {1, 2, 2, 2}), float_value("i", {1, 2, 2, 2})},
                          {make_node("MaxPool", {"x"}, {"y", "i"}, {{"kernel_shape", std::vector<int64_t>{2, 2}}})});
  EXPECT_EQ(convert_to_channels_last(pool), 0);
  EXPECT_TRUE(transposes(pool).empty());
  Graph conv1d = make_graph({float_value("x", {1, 2, 9})}, {float_value("y", {1, 3, 9})},
                            {make_node("Conv", {"x", "w"}, {"y"}, {{"pads", std::vector<int64_t>{1, 1}}})},
                            {{"w", random_tensor({3, 2, 3}, 1)}});
  EXPECT_EQ(convert_to_channels_last(conv1d), 0);
}

TEST(ChannelsLast, UndeclaredIntermediatesFollowTheirConvertedProducers) {
  // No value_info between the layers (a graph built by hand, not inferred): a
  // converted node's outputs are 4-D, so its readers convert too; a scalar Mul
  // keeps its reader's rank, a rank-5 one-element operand would not.
  const Graph original = make_graph(
      {float_value("x", {2, 3, 5, 5})}, {float_value("y", {2, 4, 5, 5}), float_value("z", {1, 2, 4, 5, 5})},
      {conv("x", "w1", "a"), make_node("Mul", {"a", "half"}, {"m"}), conv("m", "w2", "y"),
       make_node("Mul", {"a", "rank5"}, {"z"})},
      {{"w1", random_tensor({4, 3, 3, 3}, 1)}, {"w2", random_tensor({4, 4, 3, 3}, 2)}, {"half", scalar(0.5f)},
       {"rank5", random_tensor({1, 1, 1, 1, 1}, 3)}});
  Graph g = original;
  EXPECT_EQ(convert_to_channels_last(g), 3);  // two Convs and the scalar Mul
  EXPECT_TRUE(producer_of(g, "m").channels_last());
  EXPECT_FALSE(producer_of(g, "z").channels_last());
  expect_same_outputs(original, g, random_inputs(original), 1e-6);
}

TEST(ChannelsLast, ChannelConcatMovesToTheLastAxis) {
  const Graph original = make_graph(
      {float_value("x", {2, 3, 5, 5})}, {float_value("y", {2, 8, 5, 5})},
      {conv("x", "w1", "a"), conv("x", "w2", "b"), make_node("Concat", {"a", "b"}, {"y"}, {{"axis", int64_t{1}}})},
      {{"w1", random_tensor({4, 3, 3, 3}, 1)}, {"w2", random_tensor({4, 3, 3, 3}, 2)}});
  Graph g = original;
  g.value_info["a"] = float_value("a", {2, 4, 5, 5});
  g.value_info["b"] = float_value("b", {2, 4, 5, 5});
  EXPECT_EQ(convert_to_channels_last(g), 3);
  EXPECT_EQ(find_op(g, "Concat")->attr_int("axis"), 3);
  EXPECT_EQ(transposes(g).size(), 2u) << "x is transposed once for both convs";
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ChannelsLast, GraphOutputReadByAConvertedNode) {
  // c is an output and also feeds the Relu: the NHWC value is renamed, c stays NCHW.
  const Graph original = make_graph({float_value("x", {1, 2, 4, 4})},
                                    {float_value("c", {1, 3, 4, 4}), float_value("y", {1, 3, 4, 4})},
                                    {conv("x", "w", "c"), make_node("Relu", {"c"}, {"y"})},
                                    {{"w", random_tensor({3, 2, 3, 3}, 1)}});
  Graph g = original;
  EXPECT_EQ(convert_to_channels_last(g), 2);
  EXPECT_EQ(find_op(g, "Relu")->inputs[0], "c/nhwc");
  EXPECT_EQ(producer_of(g, "c").op_type, "Transpose");
  EXPECT_EQ(declared_shape(g, "c"), (Shape{1, 3, 4, 4}));
  EXPECT_EQ(declared_shape(g, "c/nhwc"), (Shape{1, 4, 4, 3}));
  expect_same_outputs(original, g, random_inputs(original), 0.0);
}

TEST(ChannelsLast, SampleModelsAfterTheOtherPasses) {
  for (const char* name : {"lenet", "resnet", "mobilenetv2"}) {
    const Graph original = sample_model(name);
    Graph g = original;
    optimize_graph(g);
    EXPECT_GT(convert_to_channels_last(g), 0) << name;
    // Every conv and pool is NHWC; the network enters NHWC once and leaves it once.
    for (const auto& n : g.nodes)
      if (n.op_type == "FusedConv" || n.op_type == "Conv" || n.op_type == "MaxPool") EXPECT_TRUE(n.channels_last()) << name;
    EXPECT_EQ(transposes(g).size(), 2u) << name;
    // Imported models declare every value they convert: the rule for undeclared ones changes nothing here.
    for (const auto& n : g.nodes)
      if (n.channels_last())
        for (const auto* values : {&n.inputs, &n.outputs})
          for (const auto& v : *values)
            if (!v.empty()) EXPECT_TRUE(graph_edit::declared_dims(g, v).has_value()) << name << ": " << v;
    expect_same_outputs(original, g, random_inputs(original, 3), 1e-5);
  }
}
