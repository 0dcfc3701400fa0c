// Sub-commands of the `octet` command-line tool, one file each.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "octet/engine.h"

namespace octet::cli {

// Adds the sub-command to `app`; the returned function runs it after parsing.
using Runner = std::function<int()>;
Runner add_infer(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_build(CLI::App& app);
Runner add_compare(CLI::App& app);

// An ONNX model (as an FP32 engine, unoptimised) or a plan file, chosen by the file's magic.
Engine load_engine(const std::string& path);
// Parses `--input NAME=FILE.npy` / `--input FILE.npy` (the latter only for a
// one-input model) into tensors keyed by input name.
TensorMap read_inputs(const std::vector<std::string>& specs, const Graph& graph);
// trtexec's shape lists: "input:1x3x224x224,mask:1x77" -> {input: [1,3,224,224], mask: [1,77]};
// `flag` names the option in errors.
std::map<std::string, Shape> parse_shapes(const std::string& flag, const std::string& text);

}  // namespace octet::cli
