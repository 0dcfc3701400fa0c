#include "octet/builder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "builder/quantize.h"
#include "builder/sub_batch.h"
#include "builder/tactics.h"
#include "calibration/calibrate.h"
#include "octet/calibration_cache.h"
#include "passes/passes.h"
#include "plugins/plugin_node.h"
#include "runtime/device_runner.h"

namespace octet {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Scales from the calibrator's cache when it holds a usable one, else none.
// A tensor calibration gives a scale to: a network input or a node output.
bool has_activation(const Graph& network, const std::string& name) {
  for (const auto& v : network.inputs)
    if (v.name == name) return true;
  for (const auto& n : network.nodes)
    for (const auto& o : n.outputs)
      if (o == name) return true;
  return false;
}

std::optional<std::map<std::string, float>> scales_from_cache(const Graph& network, const CacheFingerprint& want,
                                                              const BuilderConfig& config, CalibrationAlgoType algo) {
  size_t length = 0;
  const void* data = config.calibrator->readCalibrationCache(length);
  if (!data || length == 0) return std::nullopt;
  const std::string origin = config.calibration_cache_path.empty() ? "calibration cache" : config.calibration_cache_path;
  CalibrationCache cache = parse_calibration_cache(std::string_view(static_cast<const char*>(data), length), origin);
  if (cache.algorithm != calibration_algo_name(algo)) {
    config.log(origin + " was made with " + cache.algorithm + ", not " + std::string(calibration_algo_name(algo)) +
               ": calibrating again");
    return std::nullopt;
  }
  const std::string sidecar = fingerprint_sidecar_path(config.calibration_cache_path);
  if (config.calibration_cache_path.empty() || !std::filesystem::exists(sidecar)) {
    config.log(origin + " has no octet fingerprint (e.g. written by TensorRT): using it as it is");
  } else {
    CacheFingerprint have = parse_fingerprint(read_text(sidecar), sidecar);
    std::string why;
    if (have.network != want.network) why = "another network (fingerprint " + have.network + ", this one " + want.network + ")";
    // Without calibration data in this build (cache only) there are no settings to compare.
    else if (!config.calibration_settings.empty() && have.settings != want.settings)
      why = "other settings ('" + have.settings + "', now '" + want.settings + "')";
    if (!why.empty()) {
      if (!config.force_calibration_cache)
        throw Error(origin + ": stale calibration cache, made for " + why +
                    "; delete it to recalibrate, or force its use (--force-calib-cache)");
      config.log(origin + ": using a cache made for " + why + " because it was forced");
    }
  }
  // A cache for another network (e.g. a TensorRT cache without a sidecar) would leave every layer in FP32.
  size_t matched = 0;
  for (const auto& [name, scale] : cache.scales) matched += has_activation(network, name);
  if (matched == 0)
    throw Error(origin + ": none of its " + std::to_string(cache.scales.size()) +
                " tensors is in this network; it was made for another one");
  config.log("valid calibration cache " + origin + " (" + std::to_string(matched) + " of " +
             std::to_string(cache.scales.size()) + " tensors in this network): skipping calibration");
  return std::map<std::string, float>(cache.scales.begin(), cache.scales.end());
}

void write_cache(const std::map<std::string, float>& scales, const Graph& network, const CacheFingerprint& fp,
                 const BuilderConfig& config, CalibrationAlgoType algo) {
  CalibrationCache cache;
  cache.algorithm = calibration_algo_name(algo);
  // TensorRT lists tensors in network order; do the same so caches diff well.
  std::set<std::string> written;
  auto add = [&](const std::string& name) {
    if (auto it = scales.find(name); it != scales.end() && written.insert(name).second)
      cache.scales.emplace_back(name, it->second);
  };
  for (const auto& v : network.inputs) add(v.name);
  for (const auto& n : network.nodes)
    for (const auto& o : n.outputs) add(o);
  const std::string text = serialize_calibration_cache(cache);
  config.calibrator->writeCalibrationCache(text.data(), text.size());
  if (!config.calibration_cache_path.empty())
    write_file_atomically(fingerprint_sidecar_path(config.calibration_cache_path), serialize_fingerprint(fp));
}

// Refuses a profile that does not fit the network: every input needs min, opt and
// max of its declared rank, equal to its fixed dims, with min <= opt <= max.
void check_profile(const Graph& network, const OptimizationProfile& profile) {
  if (profile.empty()) return;
  for (const auto* shapes : {&profile.min, &profile.opt, &profile.max})
    for (const auto& [name, shape] : *shapes)
      if (std::none_of(network.inputs.begin(), network.inputs.end(), [&](const ValueInfo& v) { return v.name == name; }))
        throw Error("optimisation profile: '" + name + "' is not an input of this network");
  for (const auto& v : network.inputs) {
    const std::string what = "optimisation profile: input '" + v.name + "' ";
    auto get = [&](const std::map<std::string, Shape>& shapes, const char* which) {
      auto it = shapes.find(v.name);
      if (it == shapes.end()) throw Error(what + "has no " + which + " shape");
      if (v.has_shape && it->second.size() != v.dims.size())
        throw Error(what + which + " shape " + shape_str(it->second) + " does not have the rank of " + v.shape_str());
      return it->second;
    };
    const Shape lo = get(profile.min, "min"), opt = get(profile.opt, "opt"), hi = get(profile.max, "max");
    for (size_t d = 0; d < lo.size(); ++d) {
      if (!(1 <= lo[d] && lo[d] <= opt[d] && opt[d] <= hi[d]))
        throw Error(what + "needs 1 <= min <= opt <= max in every dim, got min " + shape_str(lo) + " opt " +
                    shape_str(opt) + " max " + shape_str(hi));
      if (v.has_shape && v.dims[d].known() && (lo[d] != v.dims[d].value || hi[d] != v.dims[d].value))
        throw Error(what + "dim " + std::to_string(d) + " is fixed at " + std::to_string(v.dims[d].value) +
                    " in " + v.shape_str() + ", the profile gives " + std::to_string(lo[d]) + ".." + std::to_string(hi[d]));
    }
  }
}

// Records the fastest backend per layer in the engine's graph, and returns the
// sub-batch its contexts run in (EngineInfo::sub_batch).
int64_t choose_kernels(Graph& graph, const BuilderConfig& config) {
  TimingCache cache;
  if (!config.timing_cache_path.empty()) cache.load(config.timing_cache_path);
  TacticOptions options;
  options.batch = config.kernel_timing_batch;
  options.shapes = config.profile.opt;
  options.allow_bf16 = config.bf16;
  options.workspace_limit = config.workspace_limit;
  if (config.precision_constraints != PrecisionConstraints::kNone) options.full_precision_layers = config.fp32_layers;
  if (config.fp16) config.log("FP16: octet has no FP16 kernels for CPUs, so no layer runs FP16");
  const size_t known = cache.size();
  if (config.select_kernels) select_tactics(graph, cache, options, config.log);
  const int64_t sub_batch =
      choose_sub_batch(graph, cache, options, config.select_kernels ? config.sub_batch : std::max<int64_t>(config.sub_batch, 0),
                       config.log);
  if (sub_batch > 0 && config.select_kernels) {
    // The kernels that win a layer at the whole batch need not win it at the sub-batch the engine runs.
    options.batch = sub_batch;
    for (auto& [name, shape] : options.shapes) shape[0] = std::min(shape[0], sub_batch);
    select_tactics(graph, cache, options, config.log);
  }
  if (cache.size() > known && !config.timing_cache_path.empty()) cache.save(config.timing_cache_path);
  return sub_batch;
}

// A GPU engine: every layer on the CUDA backend (its kernels pick their own
// variant by shape), checked by binding them, which also needs the GPU.
void bind_cuda_kernels(Graph& graph, const BuilderConfig& config) {
  for (auto& node : graph.nodes) {
    if (is_plugin_node(node))
      throw UnsupportedError(node.describe() + ": plugin layers run on the CPU only (octet has no GPU plugin interface yet)");
    const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, graph.opset(node.domain), "cuda");
    if (!def || !def->bind(node, graph))
      throw UnsupportedError(node.describe() + ": the CUDA backend has no kernel for this " + node.op_type +
                             (node.domain.empty() ? "" : " (" + node.domain + ")") +
                             (def ? " configuration" : "") + "; build for the CPU, or keep the layer INT8");
    node.backend = "cuda";
  }
}

// A GPU engine's calibration runs the FP32 network on the GPU: channels-last (the
// per-tensor statistics of |x| do not depend on the layout), on the CUDA float
// kernels, each value copied back for the statistics. Where a layer has no CUDA
// kernel, calibration runs on the CPU; the statistics and the cache are the same kind.
CalibrationRunner calibration_runner(const Graph& network, const BuilderConfig& config) {
  if (config.device != Device::kCuda) return {};
  Graph gpu = network;
  convert_to_channels_last(gpu);
  try {
    bind_cuda_kernels(gpu, config);
  } catch (const UnsupportedError& e) {
    config.log(std::string("calibration runs on the CPU: ") + e.what());
    return {};
  }
  // The network's own values, not those of the layout's Transposes.
  std::set<std::string> values;
  for (const auto& n : network.nodes) values.insert(n.outputs.begin(), n.outputs.end());
  auto executor = std::make_shared<const Executor>(std::move(gpu));
  std::shared_ptr<GpuRunner> runner = make_cuda_runner(*executor);
  config.log("calibration runs the FP32 network on the GPU");
  return [executor, runner, values](const TensorMap& inputs, const ValueObserver& observer) {
    runner->observe(inputs, [&](const std::string& name, const Tensor& value) {
      if (values.count(name)) observer(name, value);
    });
  };
}

Engine build_network(const Graph& imported, const BuilderConfig& config) {
  EngineInfo info;
  // Calibration caches are keyed by the imported network, not the optimised one.
  info.network_fingerprint = imported.fingerprint();
  check_profile(imported, config.profile);
  info.profile = config.profile;
  for (const auto* layers : {&config.fp32_layers, &config.int8_layers})
    for (const auto& layer : *layers) {
      bool found = false;
      for (const auto& n : imported.nodes) found |= n.name == layer;
      if (!found) throw Error("layer precision constraint names '" + layer + "', which is not a layer of this network");
      if (config.fp32_layers.count(layer) && config.int8_layers.count(layer))
        throw Error("layer precision constraints ask for both fp32 and int8 for '" + layer + "'");
    }
  const bool constrained = config.precision_constraints != PrecisionConstraints::kNone;
  if (!constrained && !(config.fp32_layers.empty() && config.int8_layers.empty()))
    config.log("precision constraints: none, so the layer precisions given are ignored");
  const std::set<std::string> fp32_layers = constrained ? config.fp32_layers : std::set<std::string>{};
  // An INT8 constraint that cannot be met: kObey fails, kPrefer builds the layer in FP32.
  auto unmet = [&](const std::string& layer, const std::string& why) {
    const std::string message = "layer '" + layer + "' cannot run INT8: " + why;
    if (config.precision_constraints == PrecisionConstraints::kObey)
      throw Error(message + " (precision constraints: obey)");
    config.log(message + "; it runs FP32 (precision constraints: prefer)");
  };
  if (constrained && !config.int8)
    for (const auto& layer : config.int8_layers) unmet(layer, "the build is FP32 (add INT8, --int8)");
  // Calibration and the engine see the optimised graph. INT8 builds keep Conv and
  // its activation apart: the quantizer fuses them into its INT8 layers itself.
  Graph network = imported;
  PassOptions passes;
  passes.fuse_fp32_activations = !config.int8;
  if (const PassStats stats = optimize_graph(network, passes); stats.changed()) config.log(stats.summary());
  if (!config.int8) return Engine(std::move(network), {}, info);

  info.precision = "int8";
  if (has_explicit_quantization(network)) {
    config.log("network carries its own QuantizeLinear/DequantizeLinear scales: explicit quantization, no calibration");
    info.calibration = "explicit (Q/DQ)";
    if (constrained && !(fp32_layers.empty() && config.int8_layers.empty()))
      config.log("precision constraints: ignored, the network's Q/DQ nodes give every layer's precision");
    return Engine(network, {}, info);
  }
  if (!config.calibrator) throw Error("an INT8 build needs calibration data (a calibrator) or a Q/DQ model");
  const CalibrationAlgoType algo = config.calibrator->getAlgorithm();
  std::ostringstream settings;
  settings << "algo=" << calibration_algo_name(algo);
  if (auto* p = dynamic_cast<IInt8PercentileCalibrator*>(config.calibrator); p && algo == CalibrationAlgoType::kPERCENTILE_CALIBRATION)
    settings << ";percentile=" << p->getPercentile();
  settings << ";batch=" << config.calibrator->getBatchSize() << ";" << config.calibration_settings;
  const CacheFingerprint fingerprint{info.network_fingerprint, settings.str()};
  info.calibration = std::string(calibration_algo_name(algo));

  auto scales = scales_from_cache(network, fingerprint, config, algo);
  if (!scales) {
    scales = calibrate_scales(network, *config.calibrator, config.log, calibration_runner(network, config));
    write_cache(*scales, network, fingerprint, config, algo);
  }
  QuantizedNetwork q = quantize_network(network, *scales, fp32_layers);
  for (const auto& layer : constrained ? config.int8_layers : std::set<std::string>{}) {
    if (q.int8_layers.count(layer)) continue;
    auto it = std::find_if(network.nodes.begin(), network.nodes.end(), [&](const Node& n) { return n.name == layer; });
    unmet(layer, it == network.nodes.end() ? "graph optimisation folded it into another layer"
                 : std::string("octet has no INT8 form of this ") + it->op_type +
                       " here (its tensors need calibration scales, its weights must be constants)");
  }
  return Engine(std::move(q.graph), std::move(q.scales), info);
}

}  // namespace

Engine build_engine(const Graph& network, const BuilderConfig& config) {
  // A GPU build needs the GPU from the start: calibration runs there too.
  if (config.device == Device::kCuda)
    if (const std::string why = why_no_cuda_device(); !why.empty()) throw Error("--device cuda: " + why);
  Engine built = build_network(network, config);
  Graph graph = built.graph();
  std::map<std::string, float> scales = built.scales();
  if (const int switched = convert_to_channels_last(graph)) {
    config.log("layout: " + std::to_string(switched) + " layers run on NHWC activations");
    // The layout's Transposes move INT8 values, which keep their scales.
    for (const auto& n : graph.nodes) {
      if (n.op_type != "Transpose") continue;
      if (auto it = scales.find(n.inputs[0]); it != scales.end()) scales[n.outputs[0]] = it->second;
    }
  }
  // The plan keeps each plugin's serialized state, not its fields.
  freeze_plugin_states(graph);
  EngineInfo info = built.info();
  if (config.device == Device::kCuda) {
    info.device = Device::kCuda;
    if (const int fused = fuse_int8_residual_adds(graph))
      config.log("residual adds: " + std::to_string(fused) + " Int8Adds run in their convolutions' epilogues");
    if (config.fp16 && info.precision == "int8") {
      config.log("FP16: an INT8 engine's float layers run in FP32 on the GPU (FP16 applies to FP32 builds)");
    } else if (config.fp16) {
      convert_to_float16(graph);
      info.precision = "fp16";
      config.log("FP16: the network computes in float16 between Casts at its float32 inputs and outputs");
    }
    bind_cuda_kernels(graph, config);
  } else {
    info.sub_batch = choose_kernels(graph, config);
  }
  return Engine(std::move(graph), std::move(scales), std::move(info));
}

}  // namespace octet
