#include "plugins/plugin_node.h"

#include <algorithm>
#include <cstddef>
#include <set>

#include "passes/graph_edit.h"

namespace octet {
namespace {

// Attributes octet itself sets on a plugin node: never plugin fields.
bool is_reserved_attribute(const std::string& key) {
  static const std::set<std::string> reserved = {kPluginVersion, kPluginNamespace, kPluginState, kPluginInputScales,
                                                 kPluginOutputScales, kLayoutAttribute};
  return reserved.count(key) != 0;
}

// The plugin a node names: its op type, version and namespace (TensorRT's ONNX parser
// convention: the attributes give version and namespace, "1" and "" by default).
std::string plugin_key(const Node& node) {
  return describe_plugin(node.op_type, node.attr_string(kPluginVersion, "1"), node.attr_string(kPluginNamespace, ""));
}

const IPluginCreator* find_creator(const Node& node) {
  return PluginRegistry::global().find(node.op_type, node.attr_string(kPluginVersion, "1"),
                                       node.attr_string(kPluginNamespace, ""));
}

// The end of every "no such plugin" message.
std::string registered_plugins_hint() {
  return "(registered plugins: " + PluginRegistry::global().describe() +
         "); load the library that provides it (--plugins)";
}

const char* field_type_name(size_t attribute_index) {
  static const char* names[] = {"int", "float", "string", "tensor", "ints", "floats", "strings"};
  return attribute_index < std::size(names) ? names[attribute_index] : "?";
}

PluginFields plugin_fields(const Node& node) {
  PluginFields fields;
  for (const auto& [key, value] : node.attributes)
    if (!is_reserved_attribute(key)) fields[key] = value;
  return fields;
}

// Every attribute must be a declared field of its type, and every required field present.
void check_fields(const Node& node, const IPluginCreator& creator) {
  const std::vector<PluginField> declared = creator.fields();
  std::string listing;
  for (const auto& f : declared) {
    if (is_reserved_attribute(f.name))
      throw Error(plugin_key(node) + " declares the field '" + f.name + "', a name octet reserves");
    listing += (listing.empty() ? "" : ", ") + f.name + ":" + field_type_name(static_cast<size_t>(f.type));
  }
  const PluginFields fields = plugin_fields(node);
  for (const auto& [key, value] : fields) {
    auto it = std::find_if(declared.begin(), declared.end(), [&](const PluginField& f) { return f.name == key; });
    if (it == declared.end())
      throw Error(node.describe() + ": " + plugin_key(node) + " has no field '" + key + "' (its fields: " +
                  (listing.empty() ? "none" : listing) + ")");
    if (value.index() != static_cast<size_t>(it->type))
      throw Error(node.describe() + ": field '" + key + "' of " + plugin_key(node) + " must be " +
                  field_type_name(static_cast<size_t>(it->type)) + ", got " + field_type_name(value.index()));
  }
  for (const auto& f : declared)
    if (f.required && !fields.count(f.name))
      throw Error(node.describe() + ": " + plugin_key(node) + " needs the field '" + f.name + "'");
}

// The plugin of a node: rebuilt from its state (a loaded plan) or created from its fields.
std::unique_ptr<IPlugin> instantiate(const Node& node) {
  const IPluginCreator& creator = plugin_creator(node);
  std::unique_ptr<IPlugin> plugin;
  try {
    if (auto it = node.attributes.find(kPluginState); it != node.attributes.end()) {
      const auto* state = std::get_if<std::string>(&it->second);
      if (!state) throw Error("its state attribute is not a string");
      plugin = creator.deserialize(node.name, state->data(), state->size());
    } else {
      plugin = creator.create(node.name, plugin_fields(node));
    }
  } catch (const std::exception& e) {
    throw Error(node.describe() + ": " + plugin_key(node) + ": " + e.what());
  }
  if (!plugin) throw Error(node.describe() + ": the creator of " + plugin_key(node) + " returned no plugin");
  if (plugin->num_outputs() != static_cast<int>(node.outputs.size()))
    throw Error(node.describe() + ": " + plugin_key(node) + " has " + std::to_string(plugin->num_outputs()) +
                " outputs, the node " + std::to_string(node.outputs.size()));
  return plugin;
}

struct PluginIo {
  std::vector<PluginTensorDesc> inputs, outputs;
  std::vector<PluginTensorDesc> all() const {
    std::vector<PluginTensorDesc> in_out = inputs;
    in_out.insert(in_out.end(), outputs.begin(), outputs.end());
    return in_out;
  }
};

// Descriptors of a node's tensors: INT8 with the given scales (FP32 when none
// are given), in `format`, with the dims the graph declares (-1 where dynamic).
PluginIo describe_io(const Node& node, const Graph& graph, const std::vector<float>& input_scales,
                     const std::vector<float>& output_scales, PluginFormat format) {
  auto describe = [&](const std::vector<std::string>& names, const std::vector<float>& scales) {
    std::vector<PluginTensorDesc> descs;
    for (size_t i = 0; i < names.size(); ++i) {
      PluginTensorDesc d;
      d.format = format;
      if (!scales.empty()) d.dtype = DType::kInt8, d.scale = scales.at(i);
      if (const auto dims = graph_edit::declared_dims(graph, names[i]))
        for (const auto& dim : *dims) d.dims.push_back(dim.value);
      descs.push_back(std::move(d));
    }
    return descs;
  };
  return {describe(node.inputs, input_scales), describe(node.outputs, output_scales)};
}

// The descriptors of the formats chosen for a node (its attributes say which).
PluginIo chosen_io(const Node& node, const Graph& graph) {
  return describe_io(node, graph, node.attr_floats(kPluginInputScales), node.attr_floats(kPluginOutputScales),
                     node.channels_last() ? PluginFormat::kChannelsLast : PluginFormat::kLinear);
}

bool supports(const IPlugin& plugin, const PluginIo& io) {
  const std::vector<PluginTensorDesc> in_out = io.all();
  for (size_t pos = 0; pos < in_out.size(); ++pos)
    if (!plugin.supports_format(pos, in_out, io.inputs.size())) return false;
  return true;
}

std::string describe_formats(const PluginIo& io) {
  const PluginTensorDesc& first = io.inputs.empty() ? io.outputs.at(0) : io.inputs[0];
  std::string s = io.inputs.empty() || io.outputs.empty() || io.inputs[0].dtype == io.outputs[0].dtype
                      ? std::string(dtype_name(first.dtype))
                      : std::string(dtype_name(io.inputs[0].dtype)) + " inputs, " + std::string(dtype_name(io.outputs[0].dtype)) + " outputs";
  return s + (first.format == PluginFormat::kChannelsLast ? " channels-last" : " linear (NCHW)");
}

class PluginKernel final : public PreparedKernel {
 public:
  PluginKernel(std::unique_ptr<IPlugin> plugin, PluginIo io, std::string key)
      : plugin_(std::move(plugin)), io_(std::move(io)), key_(std::move(key)) {}
  ~PluginKernel() override { plugin_->terminate(); }

  void run(KernelContext& ctx) const override {
    PluginIo io = io_;
    std::vector<Shape> input_shapes;
    std::vector<const void*> inputs;
    for (size_t i = 0; i < io.inputs.size(); ++i) {
      const Tensor& t = ctx.input(i);
      if (t.dtype() != io.inputs[i].dtype)
        ctx.fail("input " + std::to_string(i) + " is " + std::string(dtype_name(t.dtype())) + ", " + key_ +
                 " was configured for " + std::string(dtype_name(io.inputs[i].dtype)));
      io.inputs[i].dims = t.shape();
      input_shapes.push_back(t.shape());
      inputs.push_back(t.raw());
    }
    const std::vector<Shape> output_shapes = plugin_->output_shapes(input_shapes);
    if (output_shapes.size() != io.outputs.size())
      ctx.fail(key_ + " gave " + std::to_string(output_shapes.size()) + " output shapes for " +
               std::to_string(io.outputs.size()) + " outputs");
    std::vector<void*> outputs;
    for (size_t o = 0; o < io.outputs.size(); ++o) {
      io.outputs[o].dims = output_shapes[o];
      outputs.push_back(ctx.make_output(o, io.outputs[o].dtype, output_shapes[o], /*zero_filled=*/false).raw());
    }
    // The plugin's scratch: not zero-filled, as TensorRT's workspace.
    const std::unique_ptr<std::byte[]> workspace(new std::byte[plugin_->workspace_size(io.inputs, io.outputs)]);
    if (const int status = plugin_->enqueue(io.inputs, io.outputs, inputs, outputs, workspace.get(), nullptr))
      ctx.fail(key_ + " failed (enqueue returned " + std::to_string(status) + ")");
  }

 private:
  std::unique_ptr<IPlugin> plugin_;
  PluginIo io_;  // the configured formats; dims are filled per run
  std::string key_;
};

}  // namespace

bool is_plugin_node(const Node& node) { return node.backend == kPluginBackend; }

std::string describe_plugin(const std::string& name, const std::string& version, const std::string& plugin_namespace) {
  return "plugin '" + name + "' (version '" + version + "', namespace '" + plugin_namespace + "')";
}

const IPluginCreator& plugin_creator(const Node& node) {
  const IPluginCreator* creator = find_creator(node);
  if (!creator) throw Error(node.describe() + ": " + plugin_key(node) + " is not registered " + registered_plugins_hint());
  return *creator;
}

namespace {

// Best effort, as ONNX's shape inference: a plugin that cannot say (dims known
// only at run time) leaves its outputs undeclared. Outputs are float32 until the
// quantizer chooses INT8.
void declare_output_shapes(const Node& node, const IPlugin& plugin, Graph& graph) {
  std::vector<Shape> input_shapes;
  for (const auto& in : node.inputs) {
    const auto dims = graph_edit::declared_dims(graph, in);
    if (!dims) return;
    Shape& shape = input_shapes.emplace_back();
    for (const auto& d : *dims) shape.push_back(d.value);
  }
  std::vector<Shape> output_shapes;
  try {
    output_shapes = plugin.output_shapes(input_shapes);
  } catch (const std::exception&) {
    return;
  }
  for (size_t o = 0; o < node.outputs.size() && o < output_shapes.size(); ++o) {
    if (const ValueInfo* known = graph.find_value(node.outputs[o]); known && known->has_shape) continue;
    ValueInfo v{node.outputs[o], DType::kFloat32, {}, true};
    for (int64_t d : output_shapes[o]) v.dims.push_back(Dim{d < 0 ? -1 : d, ""});
    graph.value_info[v.name] = v;
  }
}

}  // namespace

void map_to_plugin(Node& node, Graph& graph) {
  const IPluginCreator* creator = find_creator(node);
  if (!creator)
    throw UnsupportedError(node.describe() + ": op '" + node.op_type + "'" +
                           (node.domain.empty() ? "" : " of domain '" + node.domain + "'") + " at opset " +
                           std::to_string(graph.opset(node.domain)) + " is not supported: no built-in kernel, and no " +
                           plugin_key(node) + " is registered " + registered_plugins_hint());
  node.attributes[kPluginVersion] = node.attr_string(kPluginVersion, "1");
  node.attributes[kPluginNamespace] = node.attr_string(kPluginNamespace, "");
  node.backend = kPluginBackend;
  check_fields(node, *creator);
  // Created once now, so that invalid field values are refused at import.
  declare_output_shapes(node, *instantiate(node), graph);
}

void freeze_plugin_states(Graph& graph) {
  for (auto& node : graph.nodes) {
    if (!is_plugin_node(node) || node.has_attr(kPluginState)) continue;
    const std::unique_ptr<IPlugin> plugin = instantiate(node);
    std::string state(plugin->serialized_size(), '\0');
    plugin->serialize(state.data());
    for (auto it = node.attributes.begin(); it != node.attributes.end();)
      it = is_reserved_attribute(it->first) ? std::next(it) : node.attributes.erase(it);
    node.attributes[kPluginState] = std::move(state);
  }
}

bool plugin_supports_int8(const Node& node, const Graph& graph, const std::vector<float>& input_scales,
                          const std::vector<float>& output_scales) {
  return supports(*instantiate(node), describe_io(node, graph, input_scales, output_scales, PluginFormat::kLinear));
}

bool plugin_supports_channels_last(const Node& node, const Graph& graph) {
  return supports(*instantiate(node), describe_io(node, graph, node.attr_floats(kPluginInputScales),
                                                  node.attr_floats(kPluginOutputScales), PluginFormat::kChannelsLast));
}

std::unique_ptr<PreparedKernel> bind_plugin(const Node& node, const Graph& graph) {
  std::unique_ptr<IPlugin> plugin = instantiate(node);
  PluginIo io = chosen_io(node, graph);
  if (!supports(*plugin, io))
    throw UnsupportedError(node.describe() + ": " + plugin_key(node) + " does not support " + describe_formats(io) +
                           " tensors");
  try {
    plugin->configure(io.inputs, io.outputs);
    plugin->initialize();
  } catch (const std::exception& e) {
    throw Error(node.describe() + ": " + plugin_key(node) + ": " + e.what());
  }
  return std::make_unique<PluginKernel>(std::move(plugin), std::move(io), plugin_key(node));
}

}  // namespace octet
