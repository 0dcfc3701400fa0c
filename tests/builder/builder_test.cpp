#include "octet/builder.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/onednn/onednn_runtime.h"
#include "octet/executor.h"
#include "octet/onnx_importer.h"

using namespace octet;

namespace {

// A user calibrator (as a TensorRT user writes one) that has no data to give.
class EmptyCalibrator : public IInt8EntropyCalibrator2 {
 public:
  int getBatchSize() const override { return 8; }
  bool getBatch(void*[], const char*[], int) override { return false; }
  const void* readCalibrationCache(std::size_t& length) override {
    length = 0;
    return nullptr;
  }
  void writeCalibrationCache(const void*, std::size_t) override { ADD_FAILURE() << "nothing to write"; }
};

// Serves `batches` batches of a constant value and records what the builder wrote.
class ConstantCalibrator : public IInt8MinMaxCalibrator {
 public:
  explicit ConstantCalibrator(int batches) : left_(batches) {}
  int getBatchSize() const override { return 2; }
  bool getBatch(void* bindings[], const char* names[], int n) override {
    EXPECT_EQ(n, 1);
    EXPECT_STREQ(names[0], "input");
    if (left_-- == 0) return false;
    std::fill_n(static_cast<float*>(bindings[0]), 2 * 28 * 28, 0.5f);
    return true;
  }
  const void* readCalibrationCache(std::size_t& length) override {
    length = 0;
    return nullptr;
  }
  void writeCalibrationCache(const void* p, std::size_t n) override { written.assign(static_cast<const char*>(p), n); }
  std::string written;

 private:
  int left_;
};

const Graph& lenet() {
  static const Graph g = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/lenet.onnx");
  return g;
}

}  // namespace

TEST(Builder, CalibratorWithNoBatchIsAClearError) {
  EmptyCalibrator calibrator;
  BuilderConfig config;
  config.int8 = true;
  config.calibrator = &calibrator;
  try {
    build_engine(lenet(), config);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("returned no batch"), std::string::npos) << e.what();
  }
}

TEST(Builder, Int8WithoutCalibratorIsAClearError) {
  BuilderConfig config;
  config.int8 = true;
  EXPECT_THROW(build_engine(lenet(), config), Error);
}

TEST(Builder, UserCalibratorFeedsCalibrationAndGetsTheCache) {
  ConstantCalibrator calibrator(3);
  BuilderConfig config;
  config.int8 = true;
  config.calibrator = &calibrator;
  Engine engine = build_engine(lenet(), config);
  EXPECT_EQ(engine.info().precision, "int8");
  EXPECT_EQ(calibrator.written.rfind("TRT-8601-MinMaxCalibration\ninput: ", 0), 0u) << calibrator.written;
  // The input was constant 0.5: minmax gives scale 0.5 / 127 exactly.
  EXPECT_FLOAT_EQ(engine.scales().at("input::int8"), 0.5f / 127.0f);
}

TEST(Builder, Fp32BuildComputesWhatTheNetworkComputes) {
  Engine engine = build_engine(lenet(), BuilderConfig{});
  EXPECT_EQ(engine.info().precision, "fp32");
  EXPECT_TRUE(engine.scales().empty());
  // The graph passes fuse lenet's two Conv + Relu + MaxPool into FusedConv (docs/graph_passes.md), and
  // the layout pass adds a Transpose where the convolutions' NHWC region starts and one where it ends.
  EXPECT_EQ(engine.graph().nodes.size(), lenet().nodes.size() - 4 + 2);
  Tensor x(DType::kFloat32, {3, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  const Tensor want = Executor(lenet()).run({{"input", x}}).at("logits");
  const Tensor got = engine.make_executor().run({{"input", x}}).at("logits");
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.numel(); ++i)
    EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-4f * std::max(1.0f, std::abs(want.data<float>()[i])));
}

// TensorRT's optimisation profile: layers are timed at the opt shapes, the plan
// keeps the profile, and the engine refuses inputs outside [min, max].
TEST(Builder, OptimizationProfileBoundsTheInputsAndSurvivesThePlan) {
  std::vector<std::string> log;
  BuilderConfig config;
  config.log = [&](const std::string& line) { log.push_back(line); };
  config.profile.min["input"] = {1, 1, 28, 28};
  config.profile.opt["input"] = {8, 1, 28, 28};
  config.profile.max["input"] = {16, 1, 28, 28};
  const Engine engine = Engine::deserialize(build_engine(lenet(), config).serialize(), "lenet.plan");
  EXPECT_EQ(engine.info().profile.max.at("input"), (Shape{16, 1, 28, 28}));
  EXPECT_EQ(engine.info().profile.opt.at("input"), (Shape{8, 1, 28, 28}));
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const std::string& l) {
    return l.find("timed at the profile's opt shapes input[8,1,28,28]") != std::string::npos;
  }));
  ExecutionContext context = engine.create_execution_context();
  EXPECT_EQ(context.execute({{"input", Tensor(DType::kFloat32, {16, 1, 28, 28})}}).at("logits").dim(0), 16);
  try {
    context.execute({{"input", Tensor(DType::kFloat32, {17, 1, 28, 28})}});
    FAIL() << "a batch above the profile's max ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the engine's optimisation profile (min [1,1,28,28], max [16,1,28,28])"),
              std::string::npos) << e.what();
  }
  // Profiles that do not fit the network are refused, naming the input.
  BuilderConfig bad = config;
  bad.profile.max["input"] = {4, 1, 28, 28};  // below opt
  EXPECT_THROW(build_engine(lenet(), bad), Error);
  bad = config;
  bad.profile.opt.erase("input");
  EXPECT_THROW(build_engine(lenet(), bad), Error);
}

TEST(Builder, PrecisionConstraintsPreferObeyAndNone) {
  // LeNet's first Relu after its first Conv kept in FP32 has no INT8 input: it cannot run INT8.
  BuilderConfig config;
  config.int8 = true;
  config.select_kernels = false;
  config.fp32_layers = {"/conv1/Conv"};
  config.int8_layers = {"/Relu", "/conv2/Conv"};
  std::vector<std::string> log;
  config.log = [&](const std::string& m) { log.push_back(m); };
  auto logged = [&](const std::string& text) {
    return std::any_of(log.begin(), log.end(), [&](const std::string& m) { return m.find(text) != std::string::npos; });
  };
  auto layer_precision = [](const Engine& e, const std::string& name) {
    for (const auto& n : e.graph().nodes)
      if (n.name.rfind(name, 0) == 0) return e.layer_precision(n);
    return std::string("absent");
  };

  auto build = [&] {
    ConstantCalibrator calibrator(3);
    config.calibrator = &calibrator;
    return build_engine(lenet(), config);
  };
  const Engine preferred = build();  // kPrefer, the default
  EXPECT_TRUE(logged("layer '/Relu' cannot run INT8")) << "no log line for /Relu";
  EXPECT_FALSE(logged("layer '/conv2/Conv' cannot run INT8"));
  EXPECT_EQ(layer_precision(preferred, "/conv1/Conv"), "fp32");
  EXPECT_EQ(layer_precision(preferred, "/conv2/Conv"), "int8");

  config.precision_constraints = PrecisionConstraints::kObey;
  try {
    build();
    FAIL() << "an INT8 constraint that cannot be met built";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer '/Relu' cannot run INT8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("obey"), std::string::npos) << e.what();
  }
  config.int8_layers = {"/conv2/Conv"};
  EXPECT_EQ(layer_precision(build(), "/conv2/Conv"), "int8");  // met: obeyed

  config.precision_constraints = PrecisionConstraints::kNone;  // both sets ignored: conv1 runs INT8
  EXPECT_EQ(layer_precision(build(), "/conv1/Conv"), "int8");

  BuilderConfig fp32;
  fp32.select_kernels = false;
  fp32.int8_layers = {"/conv2/Conv"};
  fp32.precision_constraints = PrecisionConstraints::kObey;
  EXPECT_THROW(build_engine(lenet(), fp32), Error);
  fp32.int8_layers.clear();
  fp32.fp32_layers = fp32.int8_layers = {"/fc1/Gemm"};
  EXPECT_THROW(build_engine(lenet(), fp32), Error);  // both precisions for one layer
}

TEST(Builder, Bf16PermitsBf16KernelsExceptOnLayersKeptFp32) {
  if (!onednn::native_bf16()) GTEST_SKIP() << "this CPU has no native BF16 (avx512_bf16 or AMX): no BF16 kernels";
  const Graph resnet = import_onnx_file(std::string(OCTET_SOURCE_DIR) + "/models/resnet.onnx");
  BuilderConfig config;
  config.bf16 = true;
  config.kernel_timing_batch = 4;
  config.sub_batch = 0;
  const std::string kept = resnet.nodes.front().name;  // the first conv
  config.fp32_layers = {kept};
  std::string selection;
  config.log = [&](const std::string& m) { if (m.rfind("kernel selection", 0) == 0) selection = m; };
  Engine engine = build_engine(resnet, config);
  EXPECT_NE(selection.find("run in BF16"), std::string::npos) << selection;
  Graph graph = engine.graph();
  int bf16_capable = 0;
  for (auto& n : graph.nodes) {
    if (n.name.rfind(kept, 0) == 0) {
      EXPECT_NE(engine.layer_precision(n), "bf16") << n.name << " was kept FP32";
      continue;
    }
    // Every other convolution, BF16 or not by its timing, is forced onto BF16 to check the numbers.
    if ((n.op_type == "Conv" || n.op_type == "FusedConv") &&
        KernelRegistry::global().find(n.domain, n.op_type, graph.opset(n.domain), "onednn-bf16")->bind(n, graph))
      n.backend = "onednn-bf16", ++bf16_capable;
  }
  ASSERT_GT(bf16_capable, 3);
  const Engine forced(graph, engine.scales(), engine.info());
  for (const auto& n : forced.graph().nodes)
    if (n.backend == "onednn-bf16") EXPECT_EQ(forced.layer_precision(n), "bf16") << n.name;
  Tensor x(DType::kFloat32, {16, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  const Tensor want = Executor(resnet).run({{"input", x}}).begin()->second;
  const Tensor got = forced.make_executor().run({{"input", x}}).begin()->second;
  ASSERT_EQ(got.shape(), want.shape());
  float largest = 0, worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    largest = std::max(largest, std::abs(want.data<float>()[i]));
    worst = std::max(worst, std::abs(got.data<float>()[i] - want.data<float>()[i]));
  }
  EXPECT_LT(worst, 0.05f * largest) << "BF16 network's logits vs FP32";
  EXPECT_GT(worst, 0.0f) << "no BF16 rounding visible";
}
