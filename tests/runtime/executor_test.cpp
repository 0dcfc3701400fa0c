#include "octet/executor.h"

#include <gtest/gtest.h>

#include "octet/onnx_importer.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::onnx_node_case;

namespace {
Executor executor_for(const std::string& node_case) {
  return Executor(import_onnx_file(onnx_node_case(node_case) + "/model.onnx"));
}
std::string run_error(const Executor& exec, const TensorMap& inputs) {
  try {
    exec.run(inputs);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Executor, RunsAndObservesEveryValue) {
  Executor exec = executor_for("test_add");  // x + y, both [3,4,5]
  Tensor x(DType::kFloat32, {3, 4, 5}), y(DType::kFloat32, {3, 4, 5});
  for (int i = 0; i < 60; ++i) x.data<float>()[i] = i, y.data<float>()[i] = 2 * i;
  std::vector<std::string> seen;
  TensorMap out = exec.run({{"x", x}, {"y", y}}, [&](const std::string& name, const Tensor&) { seen.push_back(name); });
  ASSERT_EQ(out.count("sum"), 1u);
  EXPECT_FLOAT_EQ(out["sum"].data<float>()[7], 21.f);
  EXPECT_EQ(seen, std::vector<std::string>{"sum"});
}

TEST(Executor, UnsupportedOpNamesNodeAndOp) {
  // Abs is not an op octet implements.
  try {
    executor_for("test_abs");
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("(Abs)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
  }
}

TEST(Executor, MissingInput) {
  Executor exec = executor_for("test_add");
  std::string err = run_error(exec, {{"x", Tensor(DType::kFloat32, {3, 4, 5})}});
  EXPECT_NE(err.find("missing input 'y'"), std::string::npos) << err;
}

TEST(Executor, WrongDtype) {
  Executor exec = executor_for("test_add");
  std::string err = run_error(exec, {{"x", Tensor(DType::kInt32, {3, 4, 5})}, {"y", Tensor(DType::kFloat32, {3, 4, 5})}});
  EXPECT_NE(err.find("input 'x' must be float32, got int32"), std::string::npos) << err;
}

TEST(Executor, WrongShape) {
  Executor exec = executor_for("test_add");
  std::string err = run_error(exec, {{"x", Tensor(DType::kFloat32, {3, 4})}, {"y", Tensor(DType::kFloat32, {3, 4, 5})}});
  EXPECT_NE(err.find("input 'x' must have shape [3,4,5], got [3,4]"), std::string::npos) << err;
}

TEST(Executor, UnknownInputListsTheModelsInputs) {
  Executor exec = executor_for("test_add");
  std::string err = run_error(exec, {{"z", Tensor(DType::kFloat32, {1})}});
  EXPECT_NE(err.find("unknown input 'z'"), std::string::npos) << err;
  EXPECT_NE(err.find("x, y"), std::string::npos) << err;
}

TEST(Graph, CycleIsReported) {
  Graph g;
  g.inputs.push_back({"in", DType::kFloat32});
  Node a{"a", "Relu", "", {"b_out"}, {"a_out"}, {}};
  Node b{"b", "Relu", "", {"a_out"}, {"b_out"}, {}};
  g.nodes = {a, b};
  try {
    g.sort_topologically();
    FAIL() << "expected a cycle error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
  }
}

TEST(Graph, UndefinedValueIsReported) {
  Graph g;
  g.nodes = {Node{"r", "Relu", "", {"nowhere"}, {"out"}, {}}};
  try {
    g.sort_topologically();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nowhere'"), std::string::npos) << e.what();
  }
}

// A kernel (test domain) recording, for each of its inputs, whether the executor
// lets it overwrite that input's memory; it outputs a copy of input 0.
namespace {
std::map<std::string, std::vector<bool>>& overwritable_seen() {
  static std::map<std::string, std::vector<bool>> seen;
  return seen;
}
const bool kProbeRegistered = [] {
  KernelRegistry::global().add(KernelDef{"OverwriteProbe", "octet.test", 1, 1, "reference", [](KernelContext& ctx) {
    std::vector<bool>& seen = overwritable_seen()[ctx.node.name];
    for (size_t i = 0; i < ctx.num_inputs(); ++i) seen.push_back(ctx.can_overwrite_input(i));
    ctx.outputs[0] = ctx.input(0).clone();
  }});
  return true;
}();

Node node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs, std::string domain = "") {
  Node n;
  n.name = outs[0];
  n.op_type = op;
  n.domain = std::move(domain);
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}
Node probe(std::vector<std::string> ins, const std::string& out) { return node("OverwriteProbe", std::move(ins), {out}, "octet.test"); }
}  // namespace

TEST(Executor, InputsMayBeOverwrittenOnlyWhereNothingElseSeesTheirMemory) {
  ASSERT_TRUE(kProbeRegistered);
  Graph g;
  g.opsets = {{"", 17}, {"octet.test", 1}};
  g.inputs = {ValueInfo{"x", DType::kFloat32, {{4, ""}}, true}};
  g.initializers["shape"] = Tensor(DType::kInt64, {1});
  g.initializers["shape"].data<int64_t>()[0] = 4;
  g.nodes = {
      node("Relu", {"x"}, {"a"}),            // a: read by the probe only
      node("Relu", {"x"}, {"b"}),            // b: read by the probe and later by a Relu
      node("Relu", {"x"}, {"c"}),            // c: a graph output
      node("Relu", {"x"}, {"d"}),            // d: viewed by a Reshape whose view dies first
      node("Reshape", {"d", "shape"}, {"view"}),
      probe({"a", "b", "c", "x", "view"}, "p1"),
      probe({"e", "e"}, "p2"),               // the same value twice
      node("Relu", {"b"}, {"e"}),
      node("Relu", {"d"}, {"f"}),
  };
  g.outputs = {ValueInfo{"p1"}, ValueInfo{"p2"}, ValueInfo{"c"}, ValueInfo{"f"}};
  g.sort_topologically();
  Tensor x(DType::kFloat32, {4});
  overwritable_seen().clear();
  Executor(g).run({{"x", x}});
  EXPECT_EQ(overwritable_seen()["p1"], (std::vector<bool>{true, false, false, false, false}));
  EXPECT_EQ(overwritable_seen()["p2"], (std::vector<bool>{false, false}));
}
