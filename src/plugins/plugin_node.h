// How a graph node runs a plugin (docs/plugins.md). The importer turns a node
// whose op has no built-in kernel into a plugin node: Node::backend "plugin",
// its op type the plugin's name, attributes plugin_version and plugin_namespace,
// and its other attributes the plugin's fields. The builder then adds what it
// chose (INT8 scales, the layout attribute) and replaces the fields by the
// plugin's serialized state, which is what a plan stores.
#pragma once
#include <memory>
#include <string>

#include "octet/graph.h"
#include "octet/kernel.h"
#include "octet/plugin.h"

namespace octet {

inline constexpr const char* kPluginBackend = "plugin";
inline constexpr const char* kPluginVersion = "plugin_version";
inline constexpr const char* kPluginNamespace = "plugin_namespace";
inline constexpr const char* kPluginState = "plugin_state";                // string: serialize()'s bytes
inline constexpr const char* kPluginInputScales = "plugin_input_scales";   // floats: inputs are INT8
inline constexpr const char* kPluginOutputScales = "plugin_output_scales"; // floats: outputs are INT8

bool is_plugin_node(const Node& node);

// "plugin 'Swish' (version '1', namespace '')": how errors name a plugin.
std::string describe_plugin(const std::string& name, const std::string& version, const std::string& plugin_namespace);

// Import: makes `node` (one of graph's nodes, whose op has no built-in kernel) a
// plugin node after checking its attributes against the creator's fields and
// creating the plugin once, and declares the output shapes the plugin gives for
// the declared input shapes (ONNX's shape inference knows no custom op). Throws
// UnsupportedError naming the op, the node and the registered plugins when no
// plugin matches, Error when the plugin refuses the node.
void map_to_plugin(Node& node, Graph& graph);

// The creator of a plugin node; throws Error naming the node and the plugin when it is not registered.
const IPluginCreator& plugin_creator(const Node& node);

// Build: replaces every plugin node's fields by its plugin's serialized state.
void freeze_plugin_states(Graph& graph);

// Quantization: whether the plugin takes every input and gives every output as
// INT8 (linear format) with these scales.
bool plugin_supports_int8(const Node& node, const Graph& graph, const std::vector<float>& input_scales,
                          const std::vector<float>& output_scales);
// Layout: whether the plugin takes and gives channels-last tensors with the precision already chosen.
bool plugin_supports_channels_last(const Node& node, const Graph& graph);

// Execution: the plugin created (from its state or fields), configured with the
// chosen formats and initialized; terminated when the kernel is destroyed.
std::unique_ptr<PreparedKernel> bind_plugin(const Node& node, const Graph& graph);

}  // namespace octet
