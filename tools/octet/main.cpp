// octet: quantize, build, inspect and run inference engines from the command line.
#include <iostream>

#include "commands.h"
#include "octet/plugin.h"

int main(int argc, char** argv) {
  CLI::App app{"octet " OCTET_VERSION ": calibrated INT8 inference engines from ONNX models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "octet " OCTET_VERSION);
  std::map<CLI::App*, octet::cli::Runner> runners;
  std::vector<std::string> plugin_libraries;
  // Every command takes --plugins: plan files and models may need plugins to load.
  auto add = [&](octet::cli::Runner (*adder)(CLI::App&)) {
    auto runner = adder(app);
    CLI::App* cmd = app.get_subcommands({}).back();
    cmd->add_option("--plugins", plugin_libraries, "plugin library (.so) to load first (repeatable)")
        ->allow_extra_args(false);
    runners[cmd] = runner;
  };
  add(octet::cli::add_infer);
  add(octet::cli::add_bench);
  add(octet::cli::add_inspect);
  add(octet::cli::add_build);
  add(octet::cli::add_compare);
  CLI11_PARSE(app, argc, argv);
  try {
    for (const auto& library : plugin_libraries) octet::load_plugin_library(library);
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const std::exception& e) {
    std::cerr << "octet: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
