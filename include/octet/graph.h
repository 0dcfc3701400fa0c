// octet's graph IR: typed values with (possibly symbolic) shapes, nodes with
// attributes, and a graph whose nodes are kept in topological order. Names are
// the ONNX names, unchanged: calibration caches are keyed by them.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "octet/tensor.h"

namespace octet {

// One dimension: a known size, or unknown / symbolic (e.g. "batch").
struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string symbol;  // non-empty for a named dynamic dimension
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<Dim> dims;
  bool has_shape = false;
  std::string shape_str() const;  // e.g. "[batch,1,28,28]"
  // The declared shape with a dynamic first (batch) dimension set to `batch`;
  // throws octet::Error naming the value when it has no shape or another dynamic dimension.
  Shape shape_at_batch(int64_t batch) const;
};

using Attribute = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>>;

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                // "" for the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;
  // The kernel backend chosen for this node by the builder ("" = the executor's default).
  std::string backend;

  bool has_attr(const std::string& key) const { return attributes.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  int64_t attr_int(const std::string& key) const;  // throws if absent
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  const Tensor& attr_tensor(const std::string& key) const;  // throws if absent
  // "node 'conv1' (Conv)" -- how errors name a node.
  std::string describe() const;
  // True when the node's 4-D activations are channels-last: its `layout`
  // attribute is "NHWC" (set by the layout pass, src/passes/layout.cpp). Such a
  // node reads X (and FusedConv's Z) and writes Y as [N, H, W, C]; weights keep
  // their ONNX layout. Absent, or "NCHW": ONNX's layout.
  bool channels_last() const;
};

// The attribute that marks a node's activation layout, and its channels-last value.
inline constexpr const char* kLayoutAttribute = "layout";
inline constexpr const char* kChannelsLast = "NHWC";
// Transpose perms between the layouts: NCHW -> NHWC, and NHWC -> NCHW.
inline const std::vector<int64_t> kNchwToNhwc{0, 2, 3, 1};
inline const std::vector<int64_t> kNhwcToNchw{0, 3, 1, 2};

// The inputs of `n` that are activations, and so NHWC when it is channels-last (the
// others are weights, biases, scales): {0} for convolutions and pools, {0, 3} for a
// FusedConv with a residual; none for nodes that cannot be channels-last.
std::vector<size_t> channels_last_inputs(const Node& n);

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;   // runtime inputs (initializers excluded)
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  std::vector<Node> nodes;         // topological order
  std::map<std::string, ValueInfo> value_info;  // inferred types/shapes of intermediates
  std::map<std::string, int64_t> opsets;        // domain -> opset version ("" = ai.onnx)

  int64_t opset(const std::string& domain = "") const;
  const ValueInfo* find_value(const std::string& name) const;  // inputs, outputs, value_info
  // Reorders nodes topologically; throws naming a node if the graph has a cycle or
  // uses a value nothing produces.
  void sort_topologically();
  int64_t parameter_count() const;  // elements in all initializers
  // Hex digest of the nodes, their attributes, the inputs/outputs and every
  // initializer's bytes: equal graphs give equal fingerprints.
  std::string fingerprint() const;
};

}  // namespace octet
