// The plugin registry, library loading, and a plugin's lifecycle through import
// mapping, the executor and a plan round trip (src/plugins/).
#include <gtest/gtest.h>

#include <filesystem>

#include "octet/builder.h"
#include "octet/engine.h"
#include "octet/executor.h"
#include "octet/plugin.h"
#include "plugins/plugin_node.h"

namespace octet {
namespace {

// What the test plugin was asked to do, in order.
std::vector<std::string> events;

// y = x * factor, float32 and linear only.
class ScalePlugin final : public IPlugin {
 public:
  explicit ScalePlugin(float factor) : factor_(factor) {}
  int num_outputs() const override { return 1; }
  std::vector<Shape> output_shapes(const std::vector<Shape>& in) const override { return {in.at(0)}; }
  bool supports_format(size_t pos, const std::vector<PluginTensorDesc>& in_out, size_t) const override {
    return in_out[pos].dtype == DType::kFloat32 && in_out[pos].format == PluginFormat::kLinear;
  }
  void configure(const std::vector<PluginTensorDesc>& in, const std::vector<PluginTensorDesc>&) override {
    events.push_back("configure " + std::string(dtype_name(in.at(0).dtype)));
  }
  size_t workspace_size(const std::vector<PluginTensorDesc>&, const std::vector<PluginTensorDesc>&) const override { return 64; }
  void initialize() override { events.push_back("initialize"); }
  void terminate() override { events.push_back("terminate"); }
  int enqueue(const std::vector<PluginTensorDesc>& in, const std::vector<PluginTensorDesc>&,
              const std::vector<const void*>& inputs, const std::vector<void*>& outputs, void* workspace,
              PluginStream) const override {
    events.push_back(workspace ? "enqueue" : "enqueue without workspace");
    if (factor_ < 0) return 7;  // a failure status, reported by the executor
    const int64_t n = shape_numel(in[0].dims);
    for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] * factor_;
    return 0;
  }
  size_t serialized_size() const override { return sizeof factor_; }
  void serialize(void* buffer) const override { std::memcpy(buffer, &factor_, sizeof factor_); }

 private:
  float factor_;
};

class ScaleCreator final : public IPluginCreator {
 public:
  std::string name() const override { return "TestScale"; }
  std::string version() const override { return "2"; }
  std::string plugin_namespace() const override { return "test"; }
  std::vector<PluginField> fields() const override { return {{"factor", PluginFieldType::kFloat, true}}; }
  std::unique_ptr<IPlugin> create(const std::string&, const PluginFields& fields) const override {
    events.push_back("create");
    return std::make_unique<ScalePlugin>(std::get<float>(fields.at("factor")));
  }
  std::unique_ptr<IPlugin> deserialize(const std::string&, const void* data, size_t length) const override {
    events.push_back("deserialize");
    PluginStateReader state(data, length, "TestScale state");
    const auto factor = state.get<float>();
    state.expect_end();
    return std::make_unique<ScalePlugin>(factor);
  }
};

// Registers TestScale for one test.
class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PluginRegistry::global().register_creator(std::make_unique<ScaleCreator>());
    events.clear();
  }
  void TearDown() override { PluginRegistry::global().deregister_creator("TestScale", "2", "test"); }
};

// x -> TestScale(factor) -> y, x float32 [batch, 3], mapped as the importer maps it.
Graph scale_graph(float factor) {
  Graph g;
  g.opsets = {{"", 13}, {"test", 1}};
  g.inputs = {ValueInfo{"x", DType::kFloat32, {Dim{-1, "batch"}, Dim{3, ""}}, true}};
  g.outputs = {ValueInfo{"y", DType::kFloat32}};
  Node n{"scale1", "TestScale", "test", {"x"}, {"y"}, {}};
  n.attributes["factor"] = factor;
  n.attributes[kPluginVersion] = std::string("2");
  n.attributes[kPluginNamespace] = std::string("test");
  g.nodes.push_back(n);
  map_to_plugin(g.nodes[0], g);
  return g;
}

Tensor row(std::vector<float> values) {
  Tensor t(DType::kFloat32, {1, static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(PluginTest, RegistryFindsDescribesAndRefusesDuplicates) {
  EXPECT_NE(PluginRegistry::global().find("TestScale", "2", "test"), nullptr);
  EXPECT_EQ(PluginRegistry::global().find("TestScale", "1", "test"), nullptr);
  EXPECT_EQ(PluginRegistry::global().find("TestScale", "2", ""), nullptr);
  EXPECT_NE(PluginRegistry::global().describe().find("TestScale 2 (test)"), std::string::npos);
  const std::string err = error_of([] { PluginRegistry::global().register_creator(std::make_unique<ScaleCreator>()); });
  EXPECT_NE(err.find("'TestScale' (version '2', namespace 'test') is already registered"), std::string::npos) << err;
}

TEST_F(PluginTest, ImportMappingDeclaresOutputShapesAndChecksFields) {
  const Graph g = scale_graph(2.f);
  EXPECT_EQ(g.nodes[0].backend, kPluginBackend);
  ASSERT_TRUE(g.value_info.count("y"));
  EXPECT_EQ(g.value_info.at("y").dims.size(), 2u);
  EXPECT_EQ(g.value_info.at("y").dims[1].value, 3);

  Graph misspelt = g;
  Node& n = misspelt.nodes[0];
  n.attributes.erase("factor");
  n.attributes["factr"] = 2.f;
  std::string err = error_of([&] { map_to_plugin(n, misspelt); });
  EXPECT_NE(err.find("has no field 'factr' (its fields: factor:float)"), std::string::npos) << err;
  n.attributes.erase("factr");
  err = error_of([&] { map_to_plugin(n, misspelt); });
  EXPECT_NE(err.find("needs the field 'factor'"), std::string::npos) << err;
  n.attributes["factor"] = int64_t{2};
  err = error_of([&] { map_to_plugin(n, misspelt); });
  EXPECT_NE(err.find("field 'factor' of plugin 'TestScale' (version '2', namespace 'test') must be float, got int"),
            std::string::npos) << err;
}

TEST_F(PluginTest, UnregisteredOpIsUnsupportedNamingOpNodeAndRegisteredPlugins) {
  Graph g = scale_graph(2.f);
  Node& n = g.nodes[0];
  n.attributes[kPluginVersion] = std::string("9");
  try {
    map_to_plugin(n, g);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("node 'scale1' (test.TestScale): op 'TestScale' of domain 'test'"), std::string::npos) << what;
    EXPECT_NE(what.find("no plugin 'TestScale' (version '9', namespace 'test') is registered"), std::string::npos) << what;
    EXPECT_NE(what.find("registered plugins: "), std::string::npos) << what;
    EXPECT_NE(what.find("TestScale 2 (test)"), std::string::npos) << what;
  }
}

TEST_F(PluginTest, ExecutorRunsTheLifecycle) {
  {
    Executor exec(scale_graph(2.5f));
    const TensorMap out = exec.run({{"x", row({1, -2, 4})}});
    EXPECT_EQ(out.at("y").to_floats(), (std::vector<float>{2.5f, -5.f, 10.f}));
  }
  // create (import check), create (executor), then the lifecycle.
  EXPECT_EQ(events, (std::vector<std::string>{"create", "create", "configure float32", "initialize", "enqueue", "terminate"}));
}

TEST_F(PluginTest, FailingEnqueueNamesTheLayer) {
  Executor exec(scale_graph(-1.f));
  const std::string err = error_of([&] { exec.run({{"x", row({1, 2, 3})}}); });
  EXPECT_NE(err.find("node 'scale1' (test.TestScale): plugin 'TestScale' (version '2', namespace 'test') failed (enqueue returned 7)"),
            std::string::npos) << err;
}

TEST_F(PluginTest, PlanStoresTheSerializedStateAndLoadingNeedsTheCreator) {
  BuilderConfig config;
  config.select_kernels = false;
  const std::string plan = build_engine(scale_graph(3.f), config).serialize();
  events.clear();
  const Engine loaded = Engine::deserialize(plan, "scale.plan");
  const Node& node = loaded.graph().nodes.at(0);
  EXPECT_TRUE(node.has_attr(kPluginState));
  EXPECT_FALSE(node.has_attr("factor"));  // the fields are in the state now
  const TensorMap out = loaded.make_executor().run({{"x", row({1, 2, 3})}});
  EXPECT_EQ(out.at("y").to_floats(), (std::vector<float>{3.f, 6.f, 9.f}));
  EXPECT_EQ(events.at(0), "deserialize");

  PluginRegistry::global().deregister_creator("TestScale", "2", "test");
  const std::string err = error_of([&] { Engine::deserialize(plan, "scale.plan"); });
  EXPECT_NE(err.find("scale.plan: node 'scale1' (test.TestScale): plugin 'TestScale' (version '2', namespace 'test') is not registered"),
            std::string::npos) << err;
  PluginRegistry::global().register_creator(std::make_unique<ScaleCreator>());
}

const std::string kBuildDir = std::filesystem::path(OCTET_CLI).parent_path().string();

TEST(PluginLibrary, LoadErrorsNameTheFileAndWhy) {
  std::string err = error_of([] { load_plugin_library("/nonexistent/libnothing.so"); });
  EXPECT_EQ(err.rfind("/nonexistent/libnothing.so: cannot load plugin library: ", 0), 0u) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  // octet's own library is a shared library without the entry point.
  const std::string not_plugin = kBuildDir + "/liboctet.so";
  err = error_of([&] { load_plugin_library(not_plugin); });
  EXPECT_NE(err.find(not_plugin + ": not an octet plugin library"), std::string::npos) << err;
  EXPECT_NE(err.find("octet_register_plugins"), std::string::npos) << err;
}

TEST(PluginLibrary, ExampleLibraryRegistersItsCreatorsOnce) {
  const std::string library = kBuildDir + "/liboctet_example_plugins.so";
  load_plugin_library(library);
  load_plugin_library(library);  // again: nothing more registered, no duplicate error
  EXPECT_NE(PluginRegistry::global().find("Swish", "1", ""), nullptr);
  EXPECT_NE(PluginRegistry::global().find("FullyConnected", "1", "octet.examples"), nullptr);
}

}  // namespace
}  // namespace octet
