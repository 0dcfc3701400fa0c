// The `octet` Python module: TensorRT's Python API names over octet's C++ API
// (include/octet/*.h). Long C++ work (parse, build, execute) runs without the
// GIL; Python calibrators called back from it take the GIL again.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <iostream>
#include <mutex>

#include "calibrators.h"
#include "numpy_tensor.h"
#include "octet/builder.h"
#include "octet/calibration_data.h"
#include "octet/engine.h"
#include "octet/execution_context.h"
#include "octet/onnx_importer.h"
#include "octet/plugin.h"
#include "octet/parallel.h"

namespace py = pybind11;
using namespace octet;
using namespace octet::python;

namespace {

// Prints the builder's messages at or above its severity on stderr, as TensorRT's trt.Logger does.
struct Logger {
  enum class Severity { INTERNAL_ERROR = 0, ERROR = 1, WARNING = 2, INFO = 3, VERBOSE = 4 };
  Severity min_severity = Severity::WARNING;
  void log(Severity severity, const std::string& message) const {
    if (severity <= min_severity) std::cerr << "octet: " << message << std::endl;
  }
};

// A network the parser fills, with the per-layer precision constraints set on it.
struct Network {
  Graph graph;
  std::string origin;  // the model it was parsed from ("" before parsing)
  std::set<std::string> fp32_layers, int8_layers;
};

// A network input or output, as TensorRT's ITensor describes it.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // -1 for a dynamic dimension
  py::dtype dtype;
};

TensorInfo tensor_info(const ValueInfo& v) {
  std::vector<int64_t> shape;
  for (const Dim& d : v.dims) shape.push_back(d.known() ? d.value : -1);
  return {v.name, shape, numpy_dtype(v.dtype)};
}

// A layer of a network: its node, and the precision constraint on it.
struct Layer {
  std::shared_ptr<Network> network;
  size_t index;
  const Node& node() const { return network->graph.nodes.at(index); }
};

struct Parser {
  std::shared_ptr<Network> network;
};

enum class DataType { FLOAT, INT8 };
enum class BuilderFlag { INT8, BF16, FP16, PREFER_PRECISION_CONSTRAINTS, OBEY_PRECISION_CONSTRAINTS };
enum class TensorIOMode { INPUT, OUTPUT };
enum class MemoryPoolType { WORKSPACE };

// octet's precision constraints default to prefer (TensorRT's to none): setting OBEY
// makes them binding, clearing it goes back to prefer, clearing PREFER ignores them.
void set_builder_flag(BuilderConfig& c, BuilderFlag flag, bool on) {
  switch (flag) {
    case BuilderFlag::INT8: c.int8 = on; break;
    case BuilderFlag::BF16: c.bf16 = on; break;
    case BuilderFlag::FP16: c.fp16 = on; break;
    case BuilderFlag::OBEY_PRECISION_CONSTRAINTS:
      c.precision_constraints = on ? PrecisionConstraints::kObey : PrecisionConstraints::kPrefer;
      break;
    case BuilderFlag::PREFER_PRECISION_CONSTRAINTS:
      c.precision_constraints = on ? PrecisionConstraints::kPrefer : PrecisionConstraints::kNone;
      break;
  }
}

bool builder_flag(const BuilderConfig& c, BuilderFlag flag) {
  switch (flag) {
    case BuilderFlag::INT8: return c.int8;
    case BuilderFlag::BF16: return c.bf16;
    case BuilderFlag::FP16: return c.fp16;
    case BuilderFlag::OBEY_PRECISION_CONSTRAINTS: return c.precision_constraints == PrecisionConstraints::kObey;
    case BuilderFlag::PREFER_PRECISION_CONSTRAINTS: return c.precision_constraints == PrecisionConstraints::kPrefer;
  }
  return false;
}

// octet.OctetError, which the build raises from a calibrator's Python exception.
PyObject* octet_error_type = nullptr;

struct Config {
  BuilderConfig config;
  py::object calibrator = py::none();  // keeps the Python calibrator alive for config.calibrator
};

class Builder {
 public:
  explicit Builder(std::shared_ptr<Logger> logger) : logger_(std::move(logger)) {}

  std::shared_ptr<Engine> build(const Network& network, const Config& config) const {
    if (network.graph.nodes.empty() && network.graph.inputs.empty())
      throw Error("the network is empty: parse a model into it first (octet.OnnxParser)");
    BuilderConfig c = config.config;
    c.fp32_layers = network.fp32_layers;
    c.int8_layers = network.int8_layers;
    c.log = [logger = logger_](const std::string& message) { logger->log(Logger::Severity::INFO, message); };
    auto* calibrator = dynamic_cast<BuildAwareCalibrator*>(c.calibrator);
    if (calibrator) calibrator->begin_build(network.graph.inputs);
    // A ready-made calibrator's cache file also carries octet's fingerprint sidecar.
    if (auto* ready = dynamic_cast<ReadyMadeCalibrator*>(c.calibrator); ready && c.calibration_cache_path.empty())
      c.calibration_cache_path = ready->cache_file();
    try {
      py::gil_scoped_release release;
      return std::make_shared<Engine>(build_engine(network.graph, c));
    } catch (const Error& e) {
      // Raise the build's error from the Python exception that caused it; an interrupt
      // (KeyboardInterrupt, SystemExit) is raised as it is.
      if (calibrator && calibrator->python_error()) {
        py::error_already_set cause = *calibrator->python_error();
        calibrator->python_error().reset();
        if (!cause.matches(PyExc_Exception)) throw cause;
        py::raise_from(cause, octet_error_type, e.what());
        throw py::error_already_set();
      }
      throw;
    }
  }

 private:
  std::shared_ptr<Logger> logger_;
};

// One context per thread, as in TensorRT; the lock makes sharing one across Python threads safe.
struct Context {
  explicit Context(ExecutionContext c) : context(std::move(c)) {}
  ExecutionContext context;
  std::mutex running;
};

struct Runtime {
  std::shared_ptr<Logger> logger;  // TensorRT's signature; deserialization has nothing to log
};

std::string_view bytes_view(const py::buffer& data) {
  py::buffer_info info = data.request();
  return {static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize)};
}

std::shared_ptr<Engine> deserialize(const py::buffer& data) {
  py::buffer_info info = data.request();  // held while the GIL is released
  std::string_view bytes(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
  py::gil_scoped_release release;
  return std::make_shared<Engine>(Engine::deserialize(bytes, "serialized engine"));
}

// The engine input or output called `name`, and whether it is an input.
std::pair<const ValueInfo*, TensorIOMode> io_tensor(const Engine& engine, const std::string& name) {
  for (const auto& v : engine.graph().inputs)
    if (v.name == name) return {&v, TensorIOMode::INPUT};
  for (const auto& v : engine.graph().outputs)
    if (v.name == name) return {&v, TensorIOMode::OUTPUT};
  throw py::key_error("'" + name + "' is not an input or output of this engine");
}

// The two ready-made calibrators, as Python classes of their own.
struct NpyCalibrator : ReadyMadeCalibrator {
  using ReadyMadeCalibrator::ReadyMadeCalibrator;
};
struct ImageCalibrator : ReadyMadeCalibrator {
  using ReadyMadeCalibrator::ReadyMadeCalibrator;
};

template <class Calibrator>
void bind_calibrator_class(py::module_& m, const char* name, const char* doc) {
  py::class_<Calibrator, IInt8Calibrator, PyCalibrator<Calibrator>>(m, name, doc).def(py::init<>());
}

}  // namespace

PYBIND11_MODULE(_octet, m) {
  m.doc() = "octet: ONNX -> calibrated INT8 CPU inference engines, with TensorRT's Python API";
  m.attr("__version__") = OCTET_VERSION;

  octet_error_type = py::register_exception<Error>(m, "OctetError", PyExc_RuntimeError).ptr();
  py::register_exception<UnsupportedError>(m, "UnsupportedError", octet_error_type);

  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Threads every kernel may use (default 1).");
  m.def("get_num_threads", &num_threads);
  m.def("load_plugin_library", &load_plugin_library, py::arg("path"),
        "Loads a plugin library (its octet_register_plugins registers its creators), like --plugins.");
  m.def("registered_plugins", [] { return PluginRegistry::global().describe(); },
        "The registered plugins, as errors list them.");

  py::class_<Logger, std::shared_ptr<Logger>> logger(m, "Logger", "Prints octet's messages on stderr.");
  py::enum_<Logger::Severity>(logger, "Severity")
      .value("INTERNAL_ERROR", Logger::Severity::INTERNAL_ERROR)
      .value("ERROR", Logger::Severity::ERROR)
      .value("WARNING", Logger::Severity::WARNING)
      .value("INFO", Logger::Severity::INFO)
      .value("VERBOSE", Logger::Severity::VERBOSE)
      .export_values();
  logger
      .def(py::init([](Logger::Severity s) { return std::make_shared<Logger>(Logger{s}); }),
           py::arg("min_severity") = Logger::Severity::WARNING)
      .def_readwrite("min_severity", &Logger::min_severity)
      .def("log", &Logger::log, py::arg("severity"), py::arg("msg"));

  py::enum_<DataType>(m, "DataType").value("FLOAT", DataType::FLOAT).value("INT8", DataType::INT8);
  m.attr("float32") = DataType::FLOAT;
  m.attr("int8") = DataType::INT8;
  py::enum_<MemoryPoolType>(m, "MemoryPoolType").value("WORKSPACE", MemoryPoolType::WORKSPACE);
  py::enum_<BuilderFlag>(m, "BuilderFlag")
      .value("INT8", BuilderFlag::INT8)
      .value("BF16", BuilderFlag::BF16)
      .value("FP16", BuilderFlag::FP16)
      .value("PREFER_PRECISION_CONSTRAINTS", BuilderFlag::PREFER_PRECISION_CONSTRAINTS)
      .value("OBEY_PRECISION_CONSTRAINTS", BuilderFlag::OBEY_PRECISION_CONSTRAINTS);
  // TensorRT's DeviceType names where layers run; octet's GPU is the CUDA backend, and
  // octet's CPU has no TensorRT counterpart (DLA is TensorRT's other device).
  py::enum_<Device>(m, "DeviceType").value("CPU", Device::kCpu).value("GPU", Device::kCuda);
  py::enum_<TensorIOMode>(m, "TensorIOMode").value("INPUT", TensorIOMode::INPUT).value("OUTPUT", TensorIOMode::OUTPUT);
  py::enum_<CalibrationAlgoType>(m, "CalibrationAlgoType")
      .value("LEGACY_CALIBRATION", CalibrationAlgoType::kLEGACY_CALIBRATION)
      .value("ENTROPY_CALIBRATION", CalibrationAlgoType::kENTROPY_CALIBRATION)
      .value("ENTROPY_CALIBRATION_2", CalibrationAlgoType::kENTROPY_CALIBRATION_2)
      .value("MINMAX_CALIBRATION", CalibrationAlgoType::kMINMAX_CALIBRATION)
      .value("PERCENTILE_CALIBRATION", CalibrationAlgoType::kPERCENTILE_CALIBRATION)
      .value("MSE_CALIBRATION", CalibrationAlgoType::kMSE_CALIBRATION);

  // ---- Network and parser.
  py::class_<TensorInfo>(m, "ITensor", "A network or engine input/output: name, shape (-1: dynamic), dtype.")
      .def_readonly("name", &TensorInfo::name)
      .def_property_readonly("shape", [](const TensorInfo& t) { return py::tuple(py::cast(t.shape)); })
      .def_readonly("dtype", &TensorInfo::dtype)
      .def("__repr__", [](const TensorInfo& t) {
        return "<octet.ITensor '" + t.name + "' " + std::string(py::str(py::cast(t.shape))) + " " +
               std::string(py::str(t.dtype)) + ">";
      });

  py::class_<Layer>(m, "ILayer",
                    "A layer (ONNX node) of a network; `precision = octet.float32` keeps it in FP32, `octet.int8` asks "
                    "for INT8 (BuilderFlag.OBEY_PRECISION_CONSTRAINTS makes that binding).")
      .def_property_readonly("name", [](const Layer& l) { return l.node().name; })
      .def_property_readonly("type", [](const Layer& l) { return l.node().op_type; })
      .def_property(
          "precision",
          [](const Layer& l) -> py::object {
            if (l.network->fp32_layers.count(l.node().name)) return py::cast(DataType::FLOAT);
            if (l.network->int8_layers.count(l.node().name)) return py::cast(DataType::INT8);
            return py::none();
          },
          [](const Layer& l, DataType precision) {
            l.network->fp32_layers.erase(l.node().name);
            l.network->int8_layers.erase(l.node().name);
            (precision == DataType::FLOAT ? l.network->fp32_layers : l.network->int8_layers).insert(l.node().name);
          })
      .def_property_readonly("precision_is_set",
                             [](const Layer& l) {
                               return l.network->fp32_layers.count(l.node().name) + l.network->int8_layers.count(l.node().name) > 0;
                             })
      .def("reset_precision", [](const Layer& l) {
        l.network->fp32_layers.erase(l.node().name);
        l.network->int8_layers.erase(l.node().name);
      });

  py::class_<Network, std::shared_ptr<Network>>(m, "INetworkDefinition", "The network a parser fills.")
      .def_property_readonly("name", [](const Network& n) { return n.graph.name; })
      .def_property_readonly("num_inputs", [](const Network& n) { return n.graph.inputs.size(); })
      .def_property_readonly("num_outputs", [](const Network& n) { return n.graph.outputs.size(); })
      .def_property_readonly("num_layers", [](const Network& n) { return n.graph.nodes.size(); })
      .def("get_input", [](const Network& n, size_t i) { return tensor_info(n.graph.inputs.at(i)); }, py::arg("index"))
      .def("get_output", [](const Network& n, size_t i) { return tensor_info(n.graph.outputs.at(i)); }, py::arg("index"))
      .def("get_layer", [](const std::shared_ptr<Network>& n, size_t i) {
            if (i >= n->graph.nodes.size()) throw py::index_error("layer " + std::to_string(i) + " of " +
                                                                  std::to_string(n->graph.nodes.size()));
            return Layer{n, i};
          }, py::arg("index"));

  py::class_<Parser>(m, "OnnxParser", "Parses an ONNX model into a network; errors raise octet.OctetError.")
      .def(py::init([](std::shared_ptr<Network> network, std::shared_ptr<Logger>) { return Parser{std::move(network)}; }),
           py::arg("network"), py::arg("logger"))
      .def("parse_from_file", [](Parser& p, const std::filesystem::path& file) {
            const std::string path = file.string();
            Network* n = p.network.get();
            if (!n->origin.empty()) throw Error(path + ": this network already holds " + n->origin + "; create another");
            Graph graph;
            {
              py::gil_scoped_release release;
              graph = import_onnx_file(path);
            }
            n->graph = std::move(graph);
            n->origin = path;
            return true;
          }, py::arg("model"), "Parses an ONNX file (external data is found next to it). Returns True.")
      .def("parse", [](Parser& p, const py::buffer& model, std::optional<std::filesystem::path> path) {
            Network* n = p.network.get();
            const std::string origin = path ? path->string() : "ONNX model bytes";
            if (!n->origin.empty()) throw Error(origin + ": this network already holds " + n->origin + "; create another");
            const std::string base_dir = path ? path->parent_path().string() : ".";
            std::string bytes(bytes_view(model));
            Graph graph;
            {
              py::gil_scoped_release release;
              graph = import_onnx_bytes(bytes, origin, base_dir.empty() ? "." : base_dir);
            }
            n->graph = std::move(graph);
            n->origin = origin;
            return true;
          }, py::arg("model"), py::arg("path") = py::none(),
          "Parses a serialized ONNX model; `path` names it in errors and locates external data. Returns True.");

  // ---- Calibrators.
  py::class_<IInt8Calibrator, PyCalibrator<IInt8Calibrator>>(
      m, "IInt8Calibrator",
      "Subclass and define get_batch_size(), get_batch(names) -> [float32 arrays] or None, get_algorithm(), and "
      "optionally read_calibration_cache() -> bytes | None and write_calibration_cache(cache).")
      .def(py::init<>())
      .def("get_batch_size", &IInt8Calibrator::getBatchSize)
      .def("get_algorithm", &IInt8Calibrator::getAlgorithm);
  bind_calibrator_class<IInt8EntropyCalibrator2>(m, "IInt8EntropyCalibrator2", "KL-divergence thresholds (TensorRT's default).");
  bind_calibrator_class<IInt8EntropyCalibrator>(m, "IInt8EntropyCalibrator", "KL-divergence thresholds, legacy variant.");
  bind_calibrator_class<IInt8MinMaxCalibrator>(m, "IInt8MinMaxCalibrator", "max |x| thresholds.");
  bind_calibrator_class<IInt8MseCalibrator>(m, "IInt8MseCalibrator", "octet's default: thresholds minimising quantization MSE.");
  py::class_<IInt8PercentileCalibrator, IInt8Calibrator, PyPercentileCalibrator>(
      m, "IInt8PercentileCalibrator", "Percentile-of-|x| thresholds; override get_percentile() (default 99.99).")
      .def(py::init<>())
      .def("get_percentile", &IInt8PercentileCalibrator::getPercentile);

  py::class_<ImagePreprocess>(m, "ImagePreprocess",
                              "How images become input: x = (pixel * scale - mean[c]) / std[c], C x H x W; "
                              "0 for height/width/channels: the first image's.")
      .def(py::init([](int height, int width, int channels, std::string channel_order, float scale,
                       std::vector<float> mean, std::vector<float> std) {
             return ImagePreprocess{height, width, channels, std::move(channel_order), scale, std::move(mean), std::move(std)};
           }),
           py::arg("height") = 0, py::arg("width") = 0, py::arg("channels") = 0, py::arg("channel_order") = "RGB",
           py::arg("scale") = 1.0f / 255.0f, py::arg("mean") = std::vector<float>{0.0f},
           py::arg("std") = std::vector<float>{1.0f})
      .def_static("parse", &parse_image_preprocess, py::arg("spec"),
                  "From the CLI's --calib-preprocess syntax, e.g. 'resize=28x28,channels=1,mean=0.286,std=0.353'.")
      .def_readwrite("height", &ImagePreprocess::height)
      .def_readwrite("width", &ImagePreprocess::width)
      .def_readwrite("channels", &ImagePreprocess::channels)
      .def_readwrite("channel_order", &ImagePreprocess::channel_order)
      .def_readwrite("scale", &ImagePreprocess::scale)
      .def_readwrite("mean", &ImagePreprocess::mean)
      .def_readwrite("std", &ImagePreprocess::std);

  py::class_<ReadyMadeCalibrator, IInt8Calibrator>(m, "ReadyMadeCalibrator", "octet's calibrator over files (see NpyCalibrator, ImageCalibrator).")
      .def_property_readonly("cache_file", &ReadyMadeCalibrator::cache_file);
  py::class_<NpyCalibrator, ReadyMadeCalibrator>(m, "NpyCalibrator", "Batches from a .npy file of preprocessed float32 N x C x H x W samples.")
      .def(py::init([](const std::filesystem::path& path, CalibrationAlgoType algorithm, int batch_size, int64_t max_batches,
                       bool shuffle, uint64_t seed, const std::filesystem::path& cache_file, double percentile, bool progress) {
             return new NpyCalibrator(algorithm, open_npy_source(path.string()),
                                      CalibrationDataOptions{batch_size, max_batches, shuffle, seed, progress}, cache_file.string(),
                                      percentile);
           }),
           py::arg("path"), py::arg("algorithm") = CalibrationAlgoType::kMSE_CALIBRATION, py::arg("batch_size") = 32,
           py::arg("max_batches") = -1, py::arg("shuffle") = false, py::arg("seed") = 0, py::arg("cache_file") = "",
           py::arg("percentile") = 99.99, py::arg("progress") = true);
  py::class_<ImageCalibrator, ReadyMadeCalibrator>(m, "ImageCalibrator",
                                                   "Batches from images listed in a file (one path a line) or found in a folder.")
      .def(py::init([](const std::filesystem::path& path, const ImagePreprocess& preprocess, CalibrationAlgoType algorithm,
                       int batch_size, int64_t max_batches, bool shuffle, uint64_t seed,
                       const std::filesystem::path& cache_file, double percentile, bool progress) {
             return new ImageCalibrator(algorithm, open_image_source(path.string(), preprocess),
                                        CalibrationDataOptions{batch_size, max_batches, shuffle, seed, progress}, cache_file.string(),
                                        percentile);
           }),
           py::arg("path"), py::arg("preprocess") = ImagePreprocess{}, py::arg("algorithm") = CalibrationAlgoType::kMSE_CALIBRATION,
           py::arg("batch_size") = 32, py::arg("max_batches") = -1, py::arg("shuffle") = false, py::arg("seed") = 0,
           py::arg("cache_file") = "", py::arg("percentile") = 99.99, py::arg("progress") = true);

  // ---- Builder.
  py::class_<OptimizationProfile>(m, "IOptimizationProfile",
                                  "The input shapes an engine accepts (min, max) and is tuned for (opt).")
      .def("set_shape", [](OptimizationProfile& p, const std::string& input, const Shape& min, const Shape& opt,
                           const Shape& max) { p.min[input] = min, p.opt[input] = opt, p.max[input] = max; },
           py::arg("input"), py::arg("min"), py::arg("opt"), py::arg("max"))
      .def("get_shape", [](const OptimizationProfile& p, const std::string& input) {
            if (!p.opt.count(input)) throw py::key_error("no shapes for input '" + input + "'");
            return py::make_tuple(p.min.at(input), p.opt.at(input), p.max.at(input));
          }, py::arg("input"), "(min, opt, max) of that input");

  py::class_<Config>(m, "IBuilderConfig", "What a build does: flags, the INT8 calibrator, caches, kernel selection.")
      .def("add_optimization_profile", [](Config& c, const OptimizationProfile& p) {
            c.config.profile = p;
            return 0;  // its index, as TensorRT returns (octet engines have one profile)
          }, py::arg("profile"))
      .def("set_flag", [](Config& c, BuilderFlag flag) { set_builder_flag(c.config, flag, true); }, py::arg("flag"))
      .def("clear_flag", [](Config& c, BuilderFlag flag) { set_builder_flag(c.config, flag, false); }, py::arg("flag"))
      .def("get_flag", [](const Config& c, BuilderFlag flag) { return builder_flag(c.config, flag); }, py::arg("flag"))
      .def_property(
          "int8_calibrator", [](const Config& c) { return c.calibrator; },
          [](Config& c, py::object calibrator) {
            if (!calibrator.is_none() && !py::isinstance<IInt8Calibrator>(calibrator))
              throw py::type_error("int8_calibrator must be an octet calibrator (a subclass of octet.IInt8EntropyCalibrator2 "
                                   "& co., or octet.NpyCalibrator / octet.ImageCalibrator), got " +
                                   std::string(py::str(py::type::handle_of(calibrator).attr("__name__"))));
            c.config.calibrator = calibrator.is_none() ? nullptr : calibrator.cast<IInt8Calibrator*>();
            c.calibrator = calibrator;
          })
      .def_property(
          "calibration_cache_path", [](const Config& c) { return c.config.calibration_cache_path; },
          [](Config& c, const std::filesystem::path& p) { c.config.calibration_cache_path = p.string(); },
          "Cache whose '<path>.octet.json' fingerprint sidecar octet writes and checks (a ready-made calibrator's "
          "cache_file when unset).")
      .def_property(
          "calibration_settings", [](const Config& c) { return c.config.calibration_settings; },
          [](Config& c, std::string s) { c.config.calibration_settings = std::move(s); },
          "Text describing the calibration data, fingerprinted with the cache (a cache made with other settings is stale).")
      .def_property(
          "force_calibration_cache", [](const Config& c) { return c.config.force_calibration_cache; },
          [](Config& c, bool f) { c.config.force_calibration_cache = f; })
      .def_property(
          "default_device_type", [](const Config& c) { return c.config.device; },
          [](Config& c, Device d) { c.config.device = d; },
          "Where the engine runs: DeviceType.CPU (default) or DeviceType.GPU (the CUDA backend: INT8 engines).")
      .def_property(
          "select_kernels", [](const Config& c) { return c.config.select_kernels; },
          [](Config& c, bool s) { c.config.select_kernels = s; },
          "Time every backend's kernel per layer and keep the fastest (False: reference kernels).")
      .def_property(
          "kernel_timing_batch", [](const Config& c) { return c.config.kernel_timing_batch; },
          [](Config& c, int64_t b) { c.config.kernel_timing_batch = b; })
      .def("set_memory_pool_limit", [](Config& c, MemoryPoolType, size_t bytes) { c.config.workspace_limit = bytes; },
           py::arg("pool"), py::arg("pool_size"),
           "WORKSPACE: kernels needing more scratch per run than pool_size bytes are not chosen (0: no limit).")
      .def("get_memory_pool_limit", [](const Config& c, MemoryPoolType) { return c.config.workspace_limit; },
           py::arg("pool"))
      .def_property(
          "sub_batch", [](const Config& c) { return c.config.sub_batch; },
          [](Config& c, int64_t n) {
            if (n < -1) throw py::value_error("sub_batch: -1 (automatic), 0 (whole batches) or a sample count");
            c.config.sub_batch = n;
          },
          "Sub-batches: -1 times sizes 1, 2, 4, ... and keeps the fastest (with select_kernels); 0 runs batches "
          "whole; N runs larger batches in sub-batches of N samples (the CLI's --sub-batch).")
      .def_property(
          "timing_cache_path", [](const Config& c) { return c.config.timing_cache_path; },
          [](Config& c, const std::filesystem::path& p) { c.config.timing_cache_path = p.string(); },
          "Kernel timing cache: read if present, written after the build; reuse it for identical rebuilds.");

  py::class_<Builder>(m, "Builder")
      .def(py::init<std::shared_ptr<Logger>>(), py::arg("logger"))
      .def("create_network", [](const Builder&, int) { return std::make_shared<Network>(); }, py::arg("flags") = 0,
           "An empty network (flags are accepted for TensorRT code; octet networks are always explicit-batch).")
      .def("create_builder_config", [](const Builder&) { return Config{}; })
      .def("create_optimization_profile", [](const Builder&) { return OptimizationProfile{}; })
      .def("build_serialized_network", [](const Builder& b, const Network& n, const Config& c) {
            std::shared_ptr<Engine> engine = b.build(n, c);
            std::string plan;
            {
              py::gil_scoped_release release;
              plan = engine->serialize();
            }
            return py::bytes(plan);
          }, py::arg("network"), py::arg("config"), "Builds and returns the plan (bytes).")
      .def("build_engine", &Builder::build, py::arg("network"), py::arg("config"), "Builds and returns the engine.");

  // ---- Runtime, engine, execution context.
  py::class_<Runtime>(m, "Runtime", "Deserializes plans.")
      .def(py::init([](std::shared_ptr<Logger> logger) { return Runtime{std::move(logger)}; }), py::arg("logger"))
      .def("deserialize_cuda_engine", [](const Runtime&, const py::buffer& plan) { return deserialize(plan); },
           py::arg("serialized_engine"), "TensorRT's name; the engine runs on the CPU.")
      .def("deserialize_engine", [](const Runtime&, const py::buffer& plan) { return deserialize(plan); },
           py::arg("serialized_engine"));

  py::class_<Engine, std::shared_ptr<Engine>>(m, "ICudaEngine", "A built engine (TensorRT's name; it runs on the CPU).")
      .def("serialize", [](const Engine& e) {
            std::string plan;
            {
              py::gil_scoped_release release;
              plan = e.serialize();
            }
            return py::bytes(plan);
          })
      .def("save", [](const Engine& e, const std::filesystem::path& path) {
            py::gil_scoped_release release;
            e.save(path.string());
          }, py::arg("path"), "Writes the plan file (atomically).")
      .def("create_execution_context", [](const Engine& e) {
            py::gil_scoped_release release;  // the first context binds the kernels
            return std::make_unique<Context>(e.create_execution_context());
          })
      .def_property_readonly("num_io_tensors", [](const Engine& e) { return e.graph().inputs.size() + e.graph().outputs.size(); })
      .def("get_tensor_name", [](const Engine& e, size_t i) {
            const auto& g = e.graph();
            if (i < g.inputs.size()) return g.inputs[i].name;
            if (i < g.inputs.size() + g.outputs.size()) return g.outputs[i - g.inputs.size()].name;
            throw py::index_error("tensor " + std::to_string(i) + " of " + std::to_string(g.inputs.size() + g.outputs.size()));
          }, py::arg("index"))
      .def("get_tensor_mode", [](const Engine& e, const std::string& name) { return io_tensor(e, name).second; },
           py::arg("name"))
      .def("get_tensor_shape", [](const Engine& e, const std::string& name) {
            return py::tuple(py::cast(tensor_info(*io_tensor(e, name).first).shape));
          }, py::arg("name"))
      .def("get_tensor_dtype", [](const Engine& e, const std::string& name) { return numpy_dtype(io_tensor(e, name).first->dtype); },
           py::arg("name"))
      .def_property_readonly("precision", [](const Engine& e) { return e.info().precision; }, "'fp32' or 'int8'")
      .def_property_readonly("calibration", [](const Engine& e) { return e.info().calibration; },
                             "e.g. 'EntropyCalibration2'; '' for FP32")
      .def_property_readonly("scales", &Engine::scales, "Scale of every INT8 tensor (real = q * scale), by name.")
      .def_property_readonly("layers", [](const Engine& e) {
            py::list layers;
            for (const Node& n : e.graph().nodes) layers.append(py::make_tuple(n.name, n.op_type, e.layer_precision(n)));
            return layers;
          }, "(name, op type, 'int8' | 'fp32') per layer of the optimised network.");

  py::class_<Context>(m, "IExecutionContext", "Runs an engine; use one per thread.")
      .def("execute", [](Context& c, const py::dict& inputs) {
            TensorMap tensors;
            for (auto [name, value] : inputs) {
              const std::string input = py::str(name);
              tensors[input] = tensor_from_numpy(value, "input '" + input + "'");
            }
            TensorMap outputs;
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(c.running);
              outputs = c.context.execute(tensors);
            }
            tensors.clear();  // drops the input views while the GIL is held
            py::dict result;
            for (const auto& [name, t] : outputs) result[py::str(name)] = numpy_from_tensor(t);
            return result;
          }, py::arg("inputs"), "{input name: numpy array} -> {output name: numpy array}; inputs are read in place.")
      .def_property_readonly("peak_activation_bytes", [](const Context& c) { return c.context.peak_activation_bytes(); });
}
