#include "builder/quantize.h"

#include <gtest/gtest.h>

#include "octet/onnx_importer.h"

using namespace octet;

namespace {

// Every activation of the network with the same scale.
std::map<std::string, float> uniform_scales(const Graph& g, float scale) {
  std::map<std::string, float> scales;
  for (const auto& v : g.inputs) scales[v.name] = scale;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) scales[o] = scale;
  return scales;
}

std::vector<std::string> op_types(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  return ops;
}

const Graph& lenet() {
  static const Graph g = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx");
  return g;
}

}  // namespace

TEST(Quantize, LenetRunsInt8BetweenOneQuantizeAndFloatLogits) {
  // LeNet: Conv Relu MaxPool Conv Relu MaxPool Flatten Gemm Relu Gemm Relu Gemm.
  QuantizedNetwork q = quantize_network(lenet(), uniform_scales(lenet(), 0.05f), {});
  EXPECT_EQ(op_types(q.graph), (std::vector<std::string>{"QuantizeLinear", "Int8Conv", "MaxPool", "Int8Conv", "MaxPool",
                                                         "Flatten", "Int8MatMul", "Int8MatMul", "Int8MatMul"}));
  // Relu fused into the producer's requantization.
  EXPECT_EQ(q.graph.nodes[1].attr_string("activation", ""), "relu");
  EXPECT_NE(q.graph.nodes[1].name.find(" + "), std::string::npos);
  // Only the last layer writes float: it feeds the graph output.
  EXPECT_EQ(q.graph.nodes.back().attr_string("output_dtype", ""), "float32");
  EXPECT_EQ(q.graph.nodes[1].attr_string("output_dtype", ""), "int8");
  // Pass-through layers keep their input's scale; weights become int8, biases int32.
  EXPECT_EQ(q.scales.at(q.graph.nodes[2].outputs[0]), q.scales.at(q.graph.nodes[2].inputs[0]));
  EXPECT_EQ(q.graph.initializers.at(q.graph.nodes[1].inputs[1]).dtype(), DType::kInt8);
  EXPECT_EQ(q.graph.initializers.at(q.graph.nodes[1].inputs[2]).dtype(), DType::kInt32);
}

TEST(Quantize, WeightsArePerOutputChannelSymmetric) {
  QuantizedNetwork q = quantize_network(lenet(), uniform_scales(lenet(), 0.05f), {});
  const Node& conv = q.graph.nodes[1];
  const Tensor& w = q.graph.initializers.at(conv.inputs[1]);
  const auto scales = conv.attr_floats("w_scales");
  ASSERT_EQ(static_cast<int64_t>(scales.size()), w.dim(0));
  const int64_t per = w.numel() / w.dim(0);
  for (int64_t m = 0; m < w.dim(0); ++m) {
    int peak = 0;
    for (int64_t k = 0; k < per; ++k) peak = std::max(peak, std::abs(int(w.data<int8_t>()[m * per + k])));
    EXPECT_EQ(peak, 127) << "channel " << m << " must use the full range";
  }
}

TEST(Quantize, Fp32LayerConstraintInsertsConversions) {
  const std::string conv2 = lenet().nodes[3].name;  // the second Conv
  ASSERT_EQ(lenet().nodes[3].op_type, "Conv");
  QuantizedNetwork q = quantize_network(lenet(), uniform_scales(lenet(), 0.05f), {conv2});
  bool conv2_fp32 = false, dequantize_before = false;
  for (const auto& n : q.graph.nodes) {
    if (n.op_type == "DequantizeLinear") dequantize_before = true;
    if (n.name == conv2) conv2_fp32 = n.op_type == "Conv" && dequantize_before;
  }
  EXPECT_TRUE(conv2_fp32) << "Conv stays FP32, fed by a DequantizeLinear";
}

TEST(Quantize, TensorsWithoutScalesStayFp32) {
  QuantizedNetwork q = quantize_network(lenet(), {}, {});
  EXPECT_EQ(op_types(q.graph), op_types(lenet()));
  EXPECT_TRUE(q.scales.empty());
}
