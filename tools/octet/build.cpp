#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "octet/builder.h"
#include "octet/calibration_data.h"
#include "octet/onnx_importer.h"
#include "octet/parallel.h"
#include "octet/qdq_export.h"

namespace octet::cli {

namespace {

// "--calibrator entropy2|entropy|minmax|percentile[=99.99]|mse" (mse = octet's default).
std::pair<CalibrationAlgoType, double> parse_calibrator(const std::string& spec) {
  const auto eq = spec.find('=');
  const std::string name = spec.substr(0, eq);
  if (name == "percentile") {
    double p = 99.99;
    if (eq != std::string::npos) {
      try {
        p = std::stod(spec.substr(eq + 1));
      } catch (const std::exception&) {
        throw Error("--calibrator " + spec + ": '" + spec.substr(eq + 1) + "' is not a percentile");
      }
      if (!(p > 0 && p <= 100)) throw Error("--calibrator " + spec + ": the percentile must be in (0, 100]");
    }
    return {CalibrationAlgoType::kPERCENTILE_CALIBRATION, p};
  }
  if (eq != std::string::npos) throw Error("--calibrator " + spec + ": only percentile takes a value");
  if (name == "entropy2") return {CalibrationAlgoType::kENTROPY_CALIBRATION_2, 0};
  if (name == "entropy") return {CalibrationAlgoType::kENTROPY_CALIBRATION, 0};
  if (name == "minmax") return {CalibrationAlgoType::kMINMAX_CALIBRATION, 0};
  if (name == "mse" || name == "default") return {CalibrationAlgoType::kMSE_CALIBRATION, 0};
  throw Error("--calibrator " + spec + ": expected entropy2, entropy, minmax, percentile[=P] or mse (the default)");
}

// Missing image size and channel count come from the model's input (N x C x H x W).
ImagePreprocess preprocess_for(const Graph& g, const std::string& spec) {
  ImagePreprocess pp = spec.empty() ? ImagePreprocess{} : parse_image_preprocess(spec);
  if (g.inputs.size() == 1 && g.inputs[0].dims.size() == 4) {
    const auto& d = g.inputs[0].dims;
    if (pp.channels == 0 && d[1].known()) pp.channels = static_cast<int>(d[1].value);
    if (pp.height == 0 && d[2].known()) pp.height = static_cast<int>(d[2].value);
    if (pp.width == 0 && d[3].known()) pp.width = static_cast<int>(d[3].value);
  }
  return pp;
}

// Calibration samples must have the shape of one input sample (N x C x H x W without N).
// The data as the cache fingerprint sees it: the absolute path and, for a file, its size,
// so the same data named another way still matches and replaced data of another size does not.
std::string describe_data(const std::string& path) {
  namespace fs = std::filesystem;
  std::string d = fs::weakly_canonical(fs::absolute(path)).string();
  if (fs::is_regular_file(path)) d += "(" + std::to_string(fs::file_size(path)) + " bytes)";
  return d;
}

// "--precision-constraints prefer|obey|none" (trtexec's --precisionConstraints).
PrecisionConstraints parse_precision_constraints(const std::string& spec) {
  if (spec == "prefer") return PrecisionConstraints::kPrefer;
  if (spec == "obey") return PrecisionConstraints::kObey;
  if (spec == "none") return PrecisionConstraints::kNone;
  throw Error("--precision-constraints " + spec + ": expected prefer, obey or none");
}

// "--mem-pool-size workspace:SIZE" -> bytes: SIZE in MiB (trtexec's unit), or with a K, M or G suffix.
size_t parse_workspace_limit(const std::string& spec) {
  const std::string what = "--mem-pool-size " + spec + ": expected workspace:SIZE (MiB, or with a K, M or G suffix)";
  const std::string prefix = "workspace:";
  if (spec.rfind(prefix, 0) != 0) throw Error(what);
  std::string size = spec.substr(prefix.size());
  double unit = 1 << 20;
  if (!size.empty() && std::string("KMG").find(size.back()) != std::string::npos) {
    unit = size.back() == 'K' ? 1 << 10 : size.back() == 'M' ? 1 << 20 : 1 << 30;
    size.pop_back();
  }
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(size, &used);
  } catch (const std::exception&) {
  }
  if (size.empty() || used != size.size() || !(value > 0)) throw Error(what);
  return static_cast<size_t>(value * unit);
}

// "--sub-batch auto|N" -> BuilderConfig::sub_batch (-1 for auto).
int64_t parse_sub_batch(const std::string& spec) {
  if (spec == "auto") return -1;
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(spec, &used);
  } catch (const std::exception&) {
  }
  if (used != spec.size() || n < 0) throw Error("--sub-batch " + spec + ": expected auto, 0 or a sample count");
  return n;
}

}  // namespace

Runner add_build(CLI::App& app) {
  auto* cmd = app.add_subcommand("build", "build an engine (FP32, or INT8 with calibration) and save it as a plan");
  struct Args {
    std::string model, output, calibrator = "mse", calib_data, calib_preprocess, calib_cache, export_qdq;
    bool int8 = false, bf16 = false, fp16 = false, shuffle = false, force_cache = false, quiet = false;
    int calib_batch = 32;
    int64_t calib_batches = -1;
    uint64_t seed = 0;
    std::vector<std::string> layer_precisions, layer_precision_lists;
    std::string precision_constraints = "prefer";
    std::string timing_cache;
    int64_t timing_batch = 1;
    int threads = 1;
    std::string sub_batch = "auto", mem_pool_size;
    bool reference_kernels = false;
    std::string min_shapes, opt_shapes, max_shapes;
    std::string device = "cpu";
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "model.onnx")->required();
  cmd->add_option("-o,--output", a->output, "engine.plan to write")->required();
  cmd->add_flag("--int8", a->int8, "quantize to INT8 (calibrated, or with the model's own Q/DQ scales)");
  cmd->add_option("--device", a->device,
                  "cpu, or cuda: an engine for this machine's GPU (FP32, FP16 with --fp16, or INT8, calibrated on "
                  "the GPU; a calibration cache serves either device)")->capture_default_str();
  cmd->add_flag("--bf16", a->bf16, "allow BF16 kernels where they are faster (CPUs with avx512_bf16 or AMX)");
  cmd->add_flag("--fp16", a->fp16,
                "FP16 (trtexec's flag): with --device cuda and no --int8 the engine computes in float16; "
                "CPUs have no FP16 kernels, so layers stay FP32 there");
  cmd->add_option("--calibrator", a->calibrator,
                  "entropy2 | entropy | minmax | percentile[=99.99] | mse (octet's default)")->capture_default_str();
  cmd->add_option("--calib-data", a->calib_data, "FILE.npy (N x C x H x W, preprocessed), LIST.txt of images, or DIR");
  cmd->add_option("--calib-batch", a->calib_batch, "samples per calibration batch")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--calib-batches", a->calib_batches, "at most this many batches (default: all the data)");
  cmd->add_option("--calib-preprocess", a->calib_preprocess,
                  "for images: resize=HxW,channels=C,order=RGB|BGR,scale=S,mean=M[:M:M],std=S[:S:S]");
  cmd->add_flag("--calib-shuffle", a->shuffle, "shuffle the calibration samples (seeded)");
  cmd->add_option("--calib-seed", a->seed, "seed for --calib-shuffle");
  cmd->add_option("--calib-cache", a->calib_cache, "calibration cache (TensorRT format): read if valid, else written");
  cmd->add_flag("--force-calib-cache", a->force_cache, "use the cache even if made for another network or settings");
  cmd->add_option("--layer-precision", a->layer_precisions,
                  "NAME:fp32 keeps that layer in FP32, NAME:int8 asks for INT8 (repeatable; also trtexec's "
                  "--layerPrecisions NAME:fp32,NAME2:int8)");
  cmd->add_option("--layerPrecisions", a->layer_precision_lists, "trtexec's spelling: NAME:PRECISION[,NAME2:PRECISION]");
  cmd->add_option("--precision-constraints,--precisionConstraints", a->precision_constraints,
                  "prefer (a layer that cannot run as asked runs FP32, logged), obey (the build fails) or none "
                  "(layer precisions ignored)")
      ->capture_default_str();
  cmd->add_option("--export-qdq", a->export_qdq, "also write the INT8 network as a QDQ ONNX model (FILE.onnx)");
  cmd->add_option("--timing-cache", a->timing_cache, "kernel timing cache: read if present, written after the build");
  cmd->add_option("--kernel-timing-batch", a->timing_batch, "batch size at which kernels are timed")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads kernels are timed with (as `octet bench --threads`)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--min-shapes,--minShapes", a->min_shapes,
                  "optimisation profile, as trtexec: NAME:1x3x224x224[,NAME2:...]; the smallest input shapes accepted");
  cmd->add_option("--opt-shapes,--optShapes", a->opt_shapes, "the input shapes kernels are chosen for");
  cmd->add_option("--max-shapes,--maxShapes", a->max_shapes, "the largest input shapes accepted");
  cmd->add_option("--mem-pool-size,--memPoolSize", a->mem_pool_size,
                  "workspace:SIZE, as trtexec: kernels needing more scratch than SIZE MiB (or SIZE with a K, M or G "
                  "suffix) per run are not chosen");
  cmd->add_option("--sub-batch", a->sub_batch,
                  "auto (time sizes 1, 2, 4, ... below the timing batch and keep the fastest), 0 (run batches whole) "
                  "or N (run larger batches in sub-batches of N samples)")->capture_default_str();
  cmd->add_flag("--reference-kernels", a->reference_kernels, "no kernel selection: every layer runs its reference kernel");
  cmd->add_flag("--quiet", a->quiet, "no progress or log messages");
  return [a] {
    if (!a->export_qdq.empty() && !a->int8)
      throw Error("--export-qdq " + a->export_qdq + ": only an INT8 build can be exported as QDQ; add --int8");
    set_num_threads(a->threads);
    Graph network = import_onnx_file(a->model);
    BuilderConfig config;
    config.int8 = a->int8;
    config.device = parse_device(a->device);
    config.bf16 = a->bf16;
    config.fp16 = a->fp16;
    config.select_kernels = !a->reference_kernels;
    config.kernel_timing_batch = a->timing_batch;
    config.timing_cache_path = a->timing_cache;
    config.sub_batch = parse_sub_batch(a->sub_batch);
    if (!a->mem_pool_size.empty()) config.workspace_limit = parse_workspace_limit(a->mem_pool_size);
    config.profile.min = parse_shapes("--min-shapes", a->min_shapes);
    config.profile.opt = parse_shapes("--opt-shapes", a->opt_shapes);
    config.profile.max = parse_shapes("--max-shapes", a->max_shapes);
    config.log = [a](const std::string& msg) {
      if (!a->quiet) std::cerr << "octet: " << msg << "\n";
    };
    config.precision_constraints = parse_precision_constraints(a->precision_constraints);
    std::vector<std::string> specs = a->layer_precisions;
    for (const auto& list : a->layer_precision_lists)
      for (size_t begin = 0, end; begin <= list.size(); begin = end + 1) {
        end = std::min(list.find(',', begin), list.size());
        specs.push_back(list.substr(begin, end - begin));
      }
    for (const auto& spec : specs) {
      auto colon = spec.rfind(':');
      const std::string precision = colon == std::string::npos ? "" : spec.substr(colon + 1);
      if (precision == "fp32") config.fp32_layers.insert(spec.substr(0, colon));
      else if (precision == "int8") config.int8_layers.insert(spec.substr(0, colon));
      else throw Error("--layer-precision " + spec + ": expected NAME:fp32 or NAME:int8");
    }
    std::unique_ptr<IInt8Calibrator> calibrator;
    // A Q/DQ model needs no calibrator; otherwise one serves the data and/or the cache.
    if (a->int8 && (!a->calib_data.empty() || !a->calib_cache.empty())) {
      auto [algo, percentile] = parse_calibrator(a->calibrator);
      std::unique_ptr<BatchSource> source;
      if (!a->calib_data.empty()) source = open_calibration_data(a->calib_data, preprocess_for(network, a->calib_preprocess));
      CalibrationDataOptions options;
      options.batch_size = a->calib_batch;
      options.max_batches = a->calib_batches;
      options.shuffle = a->shuffle;
      options.seed = a->seed;
      options.progress = !a->quiet;
      calibrator = make_calibrator(algo, std::move(source), options, a->calib_cache, percentile);
      config.calibrator = calibrator.get();
      config.calibration_cache_path = a->calib_cache;
      config.force_calibration_cache = a->force_cache;
      if (!a->calib_data.empty())
        config.calibration_settings = "data=" + describe_data(a->calib_data) + ";batches=" +
                                      std::to_string(a->calib_batches) + ";shuffle=" + std::to_string(a->shuffle) +
                                      ";seed=" + std::to_string(a->seed) + ";preprocess=" + a->calib_preprocess;
    }
    Engine engine = build_engine(network, config);
    engine.save(a->output);
    int int8_layers = 0, bf16_layers = 0;
    for (const auto& n : engine.graph().nodes) {
      int8_layers += engine.layer_precision(n) == "int8";
      bf16_layers += engine.layer_precision(n) == "bf16";
    }
    std::cerr << "octet: wrote " << a->output << " (" << engine.info().precision << ", " << int8_layers << " of "
              << engine.graph().nodes.size() << " layers in INT8"
              << (bf16_layers ? ", " + std::to_string(bf16_layers) + " in BF16" : std::string()) << ")\n";
    if (!a->export_qdq.empty()) {
      export_qdq_onnx(engine, a->export_qdq);
      std::cerr << "octet: wrote " << a->export_qdq << " (QDQ ONNX)\n";
    }
    return 0;
  };
}

}  // namespace octet::cli
