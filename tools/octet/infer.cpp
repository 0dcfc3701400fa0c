#include <filesystem>
#include <iostream>

#include "commands.h"
#include "octet/npy.h"

namespace octet::cli {

namespace {
// Output names may hold characters a file name cannot ('/' in "onnx::Gemm/x").
std::string file_name_for(const std::string& tensor_name) {
  std::string s = tensor_name;
  for (char& c : s)
    if (c == '/' || c == '\\' || c == '\0') c = '_';
  return s + ".npy";
}
}  // namespace

Runner add_infer(CLI::App& app) {
  auto* cmd = app.add_subcommand("infer", "run a model or engine on .npy inputs, write .npy outputs");
  struct Args {
    std::string model, output_dir = ".";
    std::vector<std::string> inputs;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "model.onnx or engine.plan")->required();
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.npy (or FILE.npy for a one-input model)")->required();
  cmd->add_option("--output-dir,-o", args->output_dir, "folder for <output name>.npy files");
  return [args] {
    Executor exec = load_engine(args->model).make_executor();
    TensorMap outputs = exec.run(read_inputs(args->inputs, exec.graph()));
    std::filesystem::create_directories(args->output_dir);
    for (const auto& [name, t] : outputs) {
      auto path = std::filesystem::path(args->output_dir) / file_name_for(name);
      write_npy(path.string(), t);
      std::cout << name << " " << dtype_name(t.dtype()) << shape_str(t.shape()) << " -> " << path.string() << "\n";
    }
    return 0;
  };
}

}  // namespace octet::cli
