#include <filesystem>

#include "commands.h"
#include "octet/engine.h"
#include "octet/npy.h"
#include "octet/onnx_importer.h"

namespace octet::cli {

Engine load_engine(const std::string& path) {
  if (is_plan_file(path)) return Engine::load(path);
  Graph g = import_onnx_file(path);
  EngineInfo info;
  info.network_fingerprint = g.fingerprint();
  return Engine(std::move(g), {}, info);
}

TensorMap read_inputs(const std::vector<std::string>& specs, const Graph& graph) {
  TensorMap inputs;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    std::string name, file;
    if (eq == std::string::npos) {
      if (graph.inputs.size() != 1)
        throw Error("--input " + spec + ": the model has " + std::to_string(graph.inputs.size()) +
                    " inputs, so give --input NAME=FILE.npy");
      name = graph.inputs[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    inputs[name] = read_npy(file);
  }
  return inputs;
}

}  // namespace octet::cli
