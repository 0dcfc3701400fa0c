#include <gtest/gtest.h>

#include "passes/pass_testing.h"
#include "passes/passes.h"

using namespace octet;
using namespace octet::pass_testing;

TEST(DeadCode, RemovesUnreadNodesAndTheirInitializers) {
  // y = Relu(x); the Add chain and its constant feed nothing.
  const Graph original = make_graph({float_value("x", {4})}, {float_value("y", {4})},
                                    {make_node("Add", {"x", "c"}, {"unused_sum"}),
                                     make_node("Relu", {"x"}, {"y"}),
                                     make_node("Sigmoid", {"unused_sum"}, {"unused_sigmoid"})},
                                    {{"c", scalar(1.f)}, {"never_read", scalar(2.f)}});
  Graph g = original;
  EXPECT_EQ(remove_dead_nodes(g), 2);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
  EXPECT_EQ(remove_unused_initializers(g), 2);
  EXPECT_TRUE(g.initializers.empty());
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(DeadCode, KeepsAnInitializerThatIsAGraphOutput) {
  Graph g = make_graph({float_value("x", {4})}, {float_value("y", {4}), float_value("c", {})},
                       {make_node("Relu", {"x"}, {"y"})}, {{"c", scalar(1.f)}});
  EXPECT_EQ(remove_unused_initializers(g), 0);
  EXPECT_EQ(remove_dead_nodes(g), 0);
}

TEST(IdentityElimination, ReadersReadTheIdentityInput) {
  const Graph original = make_graph({float_value("x", {4})}, {float_value("y", {4})},
                                    {make_node("Relu", {"x"}, {"r"}), make_node("Identity", {"r"}, {"r_copy"}),
                                     make_node("Sigmoid", {"r_copy"}, {"y"})});
  Graph g = original;
  EXPECT_EQ(eliminate_identities(g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].inputs, std::vector<std::string>{"r"});
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(IdentityElimination, GraphOutputNameIsKeptByRenamingTheProducer) {
  const Graph original = make_graph({float_value("x", {4})}, {float_value("y", {4}), float_value("s", {4})},
                                    {make_node("Relu", {"x"}, {"r"}), make_node("Sigmoid", {"r"}, {"s"}),
                                     make_node("Identity", {"r"}, {"y"})});
  Graph g = original;
  EXPECT_EQ(eliminate_identities(g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});
  EXPECT_EQ(g.nodes[1].inputs, std::vector<std::string>{"y"}) << "other readers follow the rename";
  expect_same_outputs(original, g, random_inputs(original));
}

TEST(IdentityElimination, KeepsIdentitiesWhoseBothNamesMustStay) {
  // Input to output, output to output, initializer to output: no producer to rename.
  Graph g = make_graph({float_value("x", {4})},
                       {float_value("y", {4}), float_value("r", {4}), float_value("r_copy", {4}), float_value("c_copy", {})},
                       {make_node("Identity", {"x"}, {"y"}), make_node("Relu", {"x"}, {"r"}),
                        make_node("Identity", {"r"}, {"r_copy"}), make_node("Identity", {"c"}, {"c_copy"})},
                       {{"c", scalar(1.f)}});
  EXPECT_EQ(eliminate_identities(g), 0);
  EXPECT_EQ(g.nodes.size(), 4u);
}

TEST(IdentityElimination, ChainsCollapse) {
  const Graph original = make_graph({float_value("x", {4})}, {float_value("y", {4})},
                                    {make_node("Relu", {"x"}, {"r"}), make_node("Identity", {"r"}, {"a"}),
                                     make_node("Identity", {"a"}, {"y"})});
  Graph g = original;
  EXPECT_EQ(eliminate_identities(g), 2);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].outputs, std::vector<std::string>{"y"});
  expect_same_outputs(original, g, random_inputs(original));
}
