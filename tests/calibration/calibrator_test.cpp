#include "octet/calibrator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

using namespace octet;
using octet::testing::TempDir;

namespace {

// Sample i is two floats, both equal to i, so a batch shows which samples it holds.
class CountingSource : public BatchSource {
 public:
  explicit CountingSource(int64_t n) : n_(n) {}
  Shape sample_shape() const override { return {2, 1, 1}; }
  int64_t size() const override { return n_; }
  void read_sample(int64_t index, float* dst) override { dst[0] = dst[1] = static_cast<float>(index); }
  std::string describe() const override { return "counting-source"; }

 private:
  int64_t n_;
};

CalibrationDataOptions options(int batch_size, int64_t max_batches = -1, bool shuffle = false, uint64_t seed = 0) {
  CalibrationDataOptions o;
  o.batch_size = batch_size;
  o.max_batches = max_batches;
  o.shuffle = shuffle;
  o.seed = seed;
  o.progress = false;
  return o;
}

std::unique_ptr<IInt8Calibrator> calibrator(int64_t samples, CalibrationDataOptions o, std::string cache = "") {
  return make_calibrator(CalibrationAlgoType::kENTROPY_CALIBRATION_2, std::make_unique<CountingSource>(samples), o,
                         std::move(cache));
}

// The sample indices of every batch, in the order getBatch serves them.
std::vector<std::vector<int>> drain(IInt8Calibrator& calib) {
  std::vector<std::vector<int>> batches;
  std::vector<float> buffer(static_cast<size_t>(calib.getBatchSize()) * 2);
  void* bindings[] = {buffer.data()};
  const char* names[] = {"input"};
  while (calib.getBatch(bindings, names, 1)) {
    std::vector<int> batch;
    for (int i = 0; i < calib.getBatchSize(); ++i) {
      EXPECT_EQ(buffer[2 * i], buffer[2 * i + 1]);
      batch.push_back(static_cast<int>(buffer[2 * i]));
    }
    batches.push_back(batch);
  }
  return batches;
}

}  // namespace

TEST(Calibrator, ServesFullBatchesInOrderAndDropsThePartialOne) {
  auto calib = calibrator(10, options(3));
  EXPECT_EQ(calib->getBatchSize(), 3);
  EXPECT_EQ(drain(*calib), (std::vector<std::vector<int>>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}));
}

TEST(Calibrator, MaxBatchesLimitsTheCount) {
  EXPECT_EQ(drain(*calibrator(10, options(3, 2))).size(), 2u);
  EXPECT_EQ(drain(*calibrator(10, options(3, 50))).size(), 3u);
}

TEST(Calibrator, FewerSamplesThanOneBatchIsAnError) {
  try {
    calibrator(5, options(8));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("counting-source"), std::string::npos) << e.what();
  }
}

TEST(Calibrator, SeededShuffleIsReproducibleAndAPermutation) {
  const auto plain = drain(*calibrator(12, options(4)));
  const auto shuffled = drain(*calibrator(12, options(4, -1, true, 7)));
  EXPECT_EQ(shuffled, drain(*calibrator(12, options(4, -1, true, 7))));
  EXPECT_NE(shuffled, plain);
  EXPECT_NE(shuffled, drain(*calibrator(12, options(4, -1, true, 8))));

  std::vector<int> all;
  for (const auto& batch : shuffled) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  std::vector<int> expected(12);
  for (int i = 0; i < 12; ++i) expected[i] = i;
  EXPECT_EQ(all, expected);
}

// Pins the shuffle to its algorithm (mt19937_64 + Fisher-Yates), which is the
// same on every standard library: a change here changes users' calibrations.
TEST(Calibrator, ShuffleOrderIsStable) {
  EXPECT_EQ(drain(*calibrator(8, options(8, -1, true, 0))), (std::vector<std::vector<int>>{{4, 5, 2, 0, 7, 1, 3, 6}}));
}

TEST(Calibrator, OnlyOneBindingIsSupported) {
  auto calib = calibrator(4, options(2));
  std::vector<float> a(4), b(4);
  void* bindings[] = {a.data(), b.data()};
  const char* names[] = {"x", "y"};
  EXPECT_THROW(calib->getBatch(bindings, names, 2), Error);
}

TEST(Calibrator, CacheRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.calib");
  std::size_t length = 99;
  EXPECT_EQ(calibrator(4, options(2))->readCalibrationCache(length), nullptr);  // no cache path
  EXPECT_EQ(length, 0u);
  auto writer = calibrator(4, options(2), path);
  EXPECT_EQ(writer->readCalibrationCache(length), nullptr);  // not written yet
  EXPECT_EQ(length, 0u);

  const std::string text = "TRT-8601-EntropyCalibration2\ninput: 3c010204\n";
  writer->writeCalibrationCache(text.data(), text.size());
  auto reader = calibrator(4, options(2), path);
  const void* data = reader->readCalibrationCache(length);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(std::string(static_cast<const char*>(data), length), text);
}

TEST(Calibrator, ReportsItsAlgorithmAndPercentile) {
  auto calib = make_calibrator(CalibrationAlgoType::kPERCENTILE_CALIBRATION, std::make_unique<CountingSource>(4),
                               options(2), "", 99.9);
  EXPECT_EQ(calib->getAlgorithm(), CalibrationAlgoType::kPERCENTILE_CALIBRATION);
  auto* percentile = dynamic_cast<IInt8PercentileCalibrator*>(calib.get());
  ASSERT_NE(percentile, nullptr);
  EXPECT_DOUBLE_EQ(percentile->getPercentile(), 99.9);
  EXPECT_EQ(calibrator(4, options(2))->getAlgorithm(), CalibrationAlgoType::kENTROPY_CALIBRATION_2);
}

TEST(Calibrator, ProgressGoesToStderr) {
  CalibrationDataOptions o = options(2);
  o.progress = true;
  auto calib = calibrator(100, o);
  ::testing::internal::CaptureStderr();
  drain(*calib);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("calibration batch 50/50, "), std::string::npos) << log;
  EXPECT_NE(log.find(" samples/s"), std::string::npos) << log;
  EXPECT_LE(std::count(log.begin(), log.end(), '\n'), 20);  // short, however many batches
}
