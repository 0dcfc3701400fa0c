#include <cstdio>

#include "commands.h"
#include "octet/onnx_importer.h"

namespace octet::cli {

Runner add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "list inputs, outputs and layers with shapes and parameters");
  auto model = std::make_shared<std::string>();
  cmd->add_option("model", *model, "model.onnx or engine.plan")->required();
  return [model] {
    Graph g = import_onnx_file(*model);
    auto shape_of = [&](const std::string& name) -> std::string {
      if (auto it = g.initializers.find(name); it != g.initializers.end()) return shape_str(it->second.shape());
      const ValueInfo* v = g.find_value(name);
      return v ? std::string(dtype_name(v->dtype)) + v->shape_str() : "?";
    };
    std::printf("Model: %s (opset %lld)\n", model->c_str(), static_cast<long long>(g.opset()));
    std::printf("Inputs:\n");
    for (const auto& v : g.inputs) std::printf("  %s: %s%s\n", v.name.c_str(), dtype_name(v.dtype).data(), v.shape_str().c_str());
    std::printf("Outputs:\n");
    for (const auto& v : g.outputs) std::printf("  %s: %s%s\n", v.name.c_str(), dtype_name(v.dtype).data(), v.shape_str().c_str());
    std::printf("Layers: %zu\n", g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      int64_t params = 0;
      std::string ins, outs;
      for (const auto& in : n.inputs) {
        if (in.empty()) continue;
        if (auto it = g.initializers.find(in); it != g.initializers.end()) params += it->second.numel();
        ins += (ins.empty() ? "" : ", ") + shape_of(in);
      }
      for (const auto& out : n.outputs) outs += (outs.empty() ? "" : ", ") + shape_of(out);
      std::printf("  [%zu] %s %s: (%s) -> (%s) params=%lld\n", i, n.op_type.c_str(), n.name.c_str(), ins.c_str(),
                  outs.c_str(), static_cast<long long>(params));
    }
    std::printf("Parameters: %lld\n", static_cast<long long>(g.parameter_count()));
    return 0;
  };
}

}  // namespace octet::cli
