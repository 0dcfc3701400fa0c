#include "octet/onnx_importer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

using namespace octet;
using octet::testing::onnx_node_case;
using octet::testing::TempDir;

namespace {
std::string error_of(const std::string& path) {
  try {
    import_onnx_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(OnnxImporter, ReadsInputsOutputsAndInitializers) {
  Graph g = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "input");
  EXPECT_EQ(g.inputs[0].dtype, DType::kFloat32);
  ASSERT_EQ(g.inputs[0].dims.size(), 4u);
  EXPECT_FALSE(g.inputs[0].dims[0].known());  // dynamic batch
  EXPECT_EQ(g.inputs[0].dims[0].symbol, "batch");
  EXPECT_EQ(g.inputs[0].dims[1].value, 1);
  EXPECT_EQ(g.outputs.at(0).name, "logits");
  EXPECT_GT(g.parameter_count(), 1000);
  EXPECT_EQ(g.opset(), 13);
  for (const auto& [name, t] : g.initializers) EXPECT_EQ(t.dtype(), DType::kFloat32) << name;
}

TEST(OnnxImporter, NodesAreTopologicallySorted) {
  Graph g = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/resnet.onnx");
  std::set<std::string> available;
  for (const auto& v : g.inputs) available.insert(v.name);
  for (const auto& [k, t] : g.initializers) available.insert(k);
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) EXPECT_TRUE(available.count(in)) << n.describe() << " reads " << in << " too early";
    for (const auto& out : n.outputs) available.insert(out);
  }
}

TEST(OnnxImporter, ConstantNodesBecomeInitializers) {
  // test_constant: a graph made of one Constant node.
  Graph g = import_onnx_file(onnx_node_case("test_constant") + "/model.onnx");
  EXPECT_TRUE(g.nodes.empty());
  EXPECT_EQ(g.initializers.count(g.outputs.at(0).name), 1u);
}

TEST(OnnxImporter, ShapeInferenceFillsIntermediates) {
  Graph g = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx");
  const auto& first = g.nodes.front();
  const ValueInfo* v = g.find_value(first.outputs[0]);
  ASSERT_NE(v, nullptr) << "no inferred shape for " << first.outputs[0];
  EXPECT_TRUE(v->has_shape);
}

TEST(OnnxImporter, MissingFile) {
  EXPECT_NE(error_of("/no/such/model.onnx").find("/no/such/model.onnx: no such file"), std::string::npos);
}

TEST(OnnxImporter, TruncatedFile) {
  TempDir dir;
  std::ifstream in(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.file("t.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string err = error_of(dir.file("t.onnx"));
  EXPECT_NE(err.find("t.onnx"), std::string::npos) << err;
  EXPECT_NE(err.find("not a valid ONNX model"), std::string::npos) << err;
}

TEST(OnnxImporter, GarbageAndEmptyFiles) {
  TempDir dir;
  std::ofstream(dir.file("g.onnx"), std::ios::binary) << std::string(1000, '\xff');
  EXPECT_NE(error_of(dir.file("g.onnx")).find("g.onnx"), std::string::npos);
  std::ofstream(dir.file("e.onnx"), std::ios::binary);
  EXPECT_NE(error_of(dir.file("e.onnx")).find("empty"), std::string::npos);
}

TEST(OnnxImporter, ReadsTensorProtoFiles) {
  Tensor t = read_onnx_tensor_file(onnx_node_case("test_relu") + "/test_data_set_0/input_0.pb");
  EXPECT_EQ(t.shape(), (Shape{3, 4, 5}));
  EXPECT_EQ(t.dtype(), DType::kFloat32);
}
