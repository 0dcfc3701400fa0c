#include <cstdlib>
#include <filesystem>
#include <sstream>

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

std::map<std::string, Shape> parse_shapes(const std::string& flag, const std::string& text) {
  std::map<std::string, Shape> shapes;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    const size_t colon = item.rfind(':');
    Shape shape;
    std::stringstream dims(colon == std::string::npos ? "" : item.substr(colon + 1));
    for (std::string d; std::getline(dims, d, 'x');) {
      char* end = nullptr;
      const long long v = std::strtoll(d.c_str(), &end, 10);
      if (d.empty() || *end != '\0' || v < 1) shape.clear(), dims.setstate(std::ios::failbit);
      else shape.push_back(v);
    }
    if (colon == std::string::npos || colon == 0 || shape.empty())
      throw Error(flag + " " + text + ": expected NAME:DxDx... with positive dims, e.g. input:1x3x224x224");
    shapes[item.substr(0, colon)] = shape;
  }
  return shapes;
}

}  // namespace octet::cli
