#include "octet/builder.h"

#include <gtest/gtest.h>

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
