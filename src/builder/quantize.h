// Implicit quantization: turns an FP32 network plus per-tensor activation scales
// into a network whose Conv / Gemm / MatMul / Add layers run as octet INT8 ops
// (weights per output channel, activations per tensor), with INT8 flowing
// through MaxPool, Relu, reshaping ops and equal-scale Concat, QuantizeLinear / DequantizeLinear at
// the boundaries with FP32 layers (mixed precision), and Relu / Clip fused into
// the producing layer's requantization.
#pragma once
#include <map>
#include <set>
#include <string>

#include "octet/graph.h"

namespace octet {

struct QuantizedNetwork {
  Graph graph;
  std::map<std::string, float> scales;  // every INT8 tensor of `graph`
  std::set<std::string> int8_layers;    // the input network's layers (node names) that run INT8
};

// Layers named in fp32_layers, and layers whose tensors have no scale, stay FP32.
QuantizedNetwork quantize_network(const Graph& network, const std::map<std::string, float>& activation_scales,
                                  const std::set<std::string>& fp32_layers);

// True when the network carries its own QuantizeLinear / DequantizeLinear (explicit quantization).
bool has_explicit_quantization(const Graph& network);

}  // namespace octet
