// `octet compare`: how much an engine (e.g. INT8) departs from the FP32 model,
// per output and per layer, and what it does to top-1 accuracy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>

#include "commands.h"
#include "octet/npy.h"
#include "octet/onnx_importer.h"

namespace octet::cli {

namespace {

// Signal and error energy of one tensor, summed over batches.
struct ErrorStats {
  double signal = 0, noise = 0, max_abs = 0, reference_max_abs = 0;
  void add(const std::vector<float>& ref, const std::vector<float>& got) {
    for (size_t i = 0; i < ref.size(); ++i) {
      const double e = static_cast<double>(got[i]) - ref[i];
      signal += static_cast<double>(ref[i]) * ref[i];
      noise += e * e;
      max_abs = std::max(max_abs, std::abs(e));
      reference_max_abs = std::max(reference_max_abs, std::abs(static_cast<double>(ref[i])));
    }
  }
  double sqnr_db() const { return noise == 0 ? INFINITY : 10.0 * std::log10(signal / noise); }
  // For the JSON report: identical values (infinite SQNR) are written as null.
  std::string sqnr_json() const { return std::isfinite(sqnr_db()) ? std::to_string(sqnr_db()) : "null"; }
};

// Real values of a tensor the engine computed: INT8 ones dequantized with their scale.
std::vector<float> real_values(const Tensor& t, const Engine& engine, const std::string& name) {
  std::vector<float> v = t.to_floats();
  if (auto it = engine.scales().find(name); it != engine.scales().end() && t.dtype() == DType::kInt8)
    for (auto& x : v) x *= it->second;
  return v;
}

std::vector<int64_t> top1(const Tensor& logits) {
  if (logits.rank() != 2) throw Error("top-1 needs a 2-D (batch x classes) first output, got " + shape_str(logits.shape()));
  std::vector<int64_t> best(logits.dim(0));
  const std::vector<float> v = logits.to_floats();
  for (int64_t b = 0; b < logits.dim(0); ++b) {
    const float* row = v.data() + b * logits.dim(1);
    best[b] = std::max_element(row, row + logits.dim(1)) - row;
  }
  return best;
}

Tensor slice_batch(const Tensor& t, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  shape[0] = end - begin;
  Tensor out(t.dtype(), shape);
  const size_t row = t.nbytes() / t.dim(0);
  std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + begin * row, (end - begin) * row);
  return out;
}

}  // namespace

Runner add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "compare an engine with its FP32 ONNX model: top-1, output error, per-layer SQNR");
  struct Args {
    std::string model, engine, data, labels, json;
    int64_t batch = 100;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "the FP32 model.onnx")->required();
  cmd->add_option("engine", a->engine, "engine.plan (or another model.onnx)")->required();
  cmd->add_option("--data", a->data, "inputs, N x ... .npy")->required();
  cmd->add_option("--labels", a->labels, "int labels, N .npy, for top-1 accuracy");
  cmd->add_option("--batch", a->batch, "samples per run")->check(CLI::PositiveNumber);
  cmd->add_option("--json", a->json, "write the figures as JSON");
  return [a] {
    const Engine reference = load_engine(a->model);
    const Engine engine = load_engine(a->engine);
    if (reference.info().network_fingerprint != engine.info().network_fingerprint)
      std::fprintf(stderr, "octet: warning: %s was not built from %s (network fingerprints differ)\n", a->engine.c_str(),
                   a->model.c_str());
    const Executor ref_exec = reference.make_executor();
    const Executor eng_exec = engine.make_executor();
    // A GPU engine runs in its execution context, which observes no layers: then only outputs are compared.
    const bool per_layer_run = reference.info().device == Device::kCpu && engine.info().device == Device::kCpu;
    auto gpu_context = [](const Engine& e) {
      return e.info().device == Device::kCuda ? std::make_optional(e.create_execution_context()) : std::nullopt;
    };
    std::optional<ExecutionContext> ref_gpu = gpu_context(reference), eng_gpu = gpu_context(engine);
    // The engine's channels-last values (docs/graph_passes.md) are compared in NCHW order.
    std::set<std::string> channels_last;
    for (const auto& node : engine.graph().nodes)
      if (node.channels_last()) channels_last.insert(node.outputs.begin(), node.outputs.end());
    const Tensor data = read_npy(a->data);
    if (data.rank() == 0 || data.dim(0) == 0) throw Error(a->data + ": no samples");
    if (ref_exec.graph().inputs.size() != 1) throw Error("compare supports one-input models");
    const std::string input = ref_exec.graph().inputs[0].name;
    std::vector<int64_t> labels;
    if (!a->labels.empty()) {
      labels = read_npy(a->labels).to_int64s();
      if (static_cast<int64_t>(labels.size()) != data.dim(0))
        throw Error(a->labels + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(data.dim(0)) + " samples");
    }

    std::map<std::string, ErrorStats> per_layer, per_output;
    int64_t agree = 0, ref_correct = 0, eng_correct = 0;
    const int64_t n = data.dim(0);
    for (int64_t begin = 0; begin < n; begin += a->batch) {
      const int64_t end = std::min(n, begin + a->batch);
      const TensorMap feed = {{input, slice_batch(data, begin, end)}};
      std::map<std::string, std::vector<float>> ref_values;
      const TensorMap ref_out = ref_gpu ? ref_gpu->execute(feed) : ref_exec.run(feed, [&](const std::string& name, const Tensor& t) {
        if (per_layer_run && t.dtype() == DType::kFloat32) ref_values[name] = t.to_floats();
      });
      const TensorMap eng_out = eng_gpu ? eng_gpu->execute(feed) : eng_exec.run(feed, [&](const std::string& name, const Tensor& t) {
        if (auto it = ref_values.find(name); it != ref_values.end() && t.numel() == static_cast<int64_t>(it->second.size()))
          per_layer[name].add(it->second, channels_last.count(name) && t.rank() == 4
                                              ? real_values(permuted(t, kNhwcToNchw), engine, name)
                                              : real_values(t, engine, name));
      });
      for (const auto& [name, t] : ref_out) per_output[name].add(t.to_floats(), real_values(eng_out.at(name), engine, name));
      const auto r = top1(ref_out.at(ref_exec.graph().outputs[0].name));
      const auto e = top1(eng_out.at(ref_exec.graph().outputs[0].name));
      for (size_t i = 0; i < r.size(); ++i) {
        agree += r[i] == e[i];
        if (!labels.empty()) ref_correct += r[i] == labels[begin + i], eng_correct += e[i] == labels[begin + i];
      }
    }

    std::printf("Samples: %lld\n", static_cast<long long>(n));
    std::printf("Top-1 agreement: %.2f%%\n", 100.0 * agree / n);
    if (!labels.empty())
      std::printf("Top-1 accuracy: reference %.2f%%, engine %.2f%% (%+.2f points)\n", 100.0 * ref_correct / n,
                  100.0 * eng_correct / n, 100.0 * (eng_correct - ref_correct) / n);
    std::printf("Outputs:\n");
    for (const auto& [name, s] : per_output)
      std::printf("  %s: max abs error %.6g, SQNR %.2f dB\n", name.c_str(), s.max_abs, s.sqnr_db());
    if (per_layer_run) std::printf("Per-layer SQNR (engine vs FP32, network order):\n");
    for (const auto& node : reference.graph().nodes)
      for (const auto& out : node.outputs)
        if (auto it = per_layer.find(out); it != per_layer.end())
          std::printf("  %-40s %-12s %8.2f dB\n", out.c_str(), node.op_type.c_str(), it->second.sqnr_db());

    if (!a->json.empty()) {
      std::ofstream js(a->json);
      if (!js) throw Error(a->json + ": cannot write file");
      js << "{\"samples\": " << n << ", \"top1_agreement\": " << static_cast<double>(agree) / n;
      if (!labels.empty())
        js << ", \"reference_top1\": " << static_cast<double>(ref_correct) / n
           << ", \"engine_top1\": " << static_cast<double>(eng_correct) / n;
      js << ", \"outputs\": {";
      bool first = true;
      for (const auto& [name, s] : per_output) {
        js << (first ? "" : ", ") << "\"" << name << "\": {\"max_abs\": " << s.max_abs << ", \"reference_max_abs\": " << s.reference_max_abs
           << ", \"sqnr_db\": " << s.sqnr_json() << "}";
        first = false;
      }
      js << "}, \"layers\": {";
      first = true;
      for (const auto& [name, s] : per_layer) {
        js << (first ? "" : ", ") << "\"" << name << "\": {\"sqnr_db\": " << s.sqnr_json() << "}";
        first = false;
      }
      js << "}}\n";
    }
    return 0;
  };
}

}  // namespace octet::cli
