#include <cstdio>

#include "commands.h"

namespace octet::cli {

namespace {
std::string format_scale(float scale) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", scale);
  return buf;
}
}  // namespace

Runner add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "list inputs, outputs and layers with shapes, precision and parameters");
  auto model = std::make_shared<std::string>();
  cmd->add_option("model", *model, "model.onnx or engine.plan")->required();
  return [model] {
    const Engine engine = load_engine(*model);
    const Graph& g = engine.graph();
    auto describe_value = [&](const std::string& name) -> std::string {
      std::string s;
      if (auto it = g.initializers.find(name); it != g.initializers.end()) {
        s = std::string(dtype_name(it->second.dtype())) + shape_str(it->second.shape());
      } else if (const ValueInfo* v = g.find_value(name)) {
        s = std::string(dtype_name(v->dtype)) + v->shape_str();
      } else {
        s = "?";
      }
      if (auto it = engine.scales().find(name); it != engine.scales().end())
        s += " scale=" + format_scale(it->second);
      return name + ":" + s;
    };
    std::printf("Model: %s\n", model->c_str());
    std::printf("Precision: %s%s\n", engine.info().precision.c_str(),
                engine.info().calibration.empty() ? "" : (" (calibration: " + engine.info().calibration + ")").c_str());
    std::printf("Inputs:\n");
    for (const auto& v : g.inputs) std::printf("  %s\n", describe_value(v.name).c_str());
    const OptimizationProfile& profile = engine.info().profile;
    for (const auto& [name, opt] : profile.opt)
      std::printf("  profile %s: min %s opt %s max %s\n", name.c_str(), shape_str(profile.min.at(name)).c_str(),
                  shape_str(opt).c_str(), shape_str(profile.max.at(name)).c_str());
    if (engine.info().sub_batch > 0)
      std::printf("Sub-batch: %lld (larger batches run as consecutive sub-batches of this many samples)\n",
                  static_cast<long long>(engine.info().sub_batch));
    std::printf("Outputs:\n");
    for (const auto& v : g.outputs) std::printf("  %s\n", describe_value(v.name).c_str());
    std::printf("Layers: %zu\n", g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      int64_t params = 0;
      std::string ins, outs;
      for (const auto& in : n.inputs) {
        if (in.empty()) continue;
        if (auto it = g.initializers.find(in); it != g.initializers.end()) params += it->second.numel();
        else ins += (ins.empty() ? "" : ", ") + describe_value(in);
      }
      for (const auto& out : n.outputs) outs += (outs.empty() ? "" : ", ") + describe_value(out);
      std::printf("  [%zu] %s '%s' %s %s kernel=%s: (%s) -> (%s) params=%lld\n", i, n.op_type.c_str(), n.name.c_str(),
                  engine.layer_precision(n).c_str(), n.channels_last() ? "NHWC" : "NCHW", n.backend.empty() ? "reference" : n.backend.c_str(), ins.c_str(),
                  outs.c_str(), static_cast<long long>(params));
    }
    std::printf("Parameters: %lld\n", static_cast<long long>(g.parameter_count()));
    return 0;
  };
}

}  // namespace octet::cli
