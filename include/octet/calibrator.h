// INT8 calibrators, shaped like TensorRT's IInt8Calibrator family so that its
// users feel at home: the builder pulls batches with getBatch() until it returns
// false, or skips calibration when readCalibrationCache() hands back a valid cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/tensor.h"

namespace octet {

enum class CalibrationAlgoType {
  kLEGACY_CALIBRATION = 0,
  kENTROPY_CALIBRATION = 1,    // KL divergence, legacy variant
  kENTROPY_CALIBRATION_2 = 2,  // KL divergence, TensorRT's default recipe
  kMINMAX_CALIBRATION = 3,     // max |x|
  kPERCENTILE_CALIBRATION = 4, // percentile of |x| (octet's addition; TensorRT has none)
  kMSE_CALIBRATION = 5,        // octet's default: threshold minimising quantization MSE
};

// Name used in cache headers, e.g. "EntropyCalibration2" in "TRT-8601-EntropyCalibration2".
std::string_view calibration_algo_name(CalibrationAlgoType algo);
// Inverse of calibration_algo_name; throws octet::Error for an unknown name.
CalibrationAlgoType calibration_algo_from_name(std::string_view name);

class IInt8Calibrator {
 public:
  virtual ~IInt8Calibrator() = default;
  // Samples per batch handed out by getBatch.
  virtual int getBatchSize() const = 0;
  // Fills bindings[i] (host memory, float32, the shape of input names[i] at this
  // batch size) with the next batch. Returns false when the data is exhausted.
  virtual bool getBatch(void* bindings[], const char* names[], int nbBindings) = 0;
  // A previously written cache, or nullptr (length = 0) to calibrate.
  virtual const void* readCalibrationCache(std::size_t& length) = 0;
  virtual void writeCalibrationCache(const void* ptr, std::size_t length) = 0;
  virtual CalibrationAlgoType getAlgorithm() = 0;
};

class IInt8EntropyCalibrator2 : public IInt8Calibrator {
 public:
  CalibrationAlgoType getAlgorithm() override { return CalibrationAlgoType::kENTROPY_CALIBRATION_2; }
};
class IInt8EntropyCalibrator : public IInt8Calibrator {
 public:
  CalibrationAlgoType getAlgorithm() override { return CalibrationAlgoType::kENTROPY_CALIBRATION; }
};
class IInt8MinMaxCalibrator : public IInt8Calibrator {
 public:
  CalibrationAlgoType getAlgorithm() override { return CalibrationAlgoType::kMINMAX_CALIBRATION; }
};
class IInt8PercentileCalibrator : public IInt8Calibrator {
 public:
  CalibrationAlgoType getAlgorithm() override { return CalibrationAlgoType::kPERCENTILE_CALIBRATION; }
  // Percent of |x| kept unclipped, e.g. 99.99.
  virtual double getPercentile() const { return 99.99; }
};
class IInt8MseCalibrator : public IInt8Calibrator {
 public:
  CalibrationAlgoType getAlgorithm() override { return CalibrationAlgoType::kMSE_CALIBRATION; }
};

// octet's extension to the calibrator interface, for calibrators that know the
// shape of the samples they hand out (make_calibrator's do): getBatch's bindings
// carry no size, so before the first batch the builder checks this shape against
// the network's input and refuses a mismatch, naming both.
class ICalibrationSampleShape {
 public:
  virtual ~ICalibrationSampleShape() = default;
  // One sample's shape, without the batch dimension; nullopt when there are no samples (cache only).
  virtual std::optional<Shape> calibration_sample_shape() const = 0;
  virtual std::string describe_calibration_data() const = 0;  // e.g. the file, for the error
};

// A source of preprocessed calibration samples (float32, N x C x H x W), for the
// ready-made calibrators.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Shape sample_shape() const = 0;  // C x H x W (without the batch dimension)
  virtual int64_t size() const = 0;        // samples available
  // Copies sample `index` (0 <= index < size()) into dst (numel of sample_shape floats).
  virtual void read_sample(int64_t index, float* dst) = 0;
  virtual std::string describe() const = 0;  // e.g. the file it reads, for messages
};

// Options for the ready-made calibrators.
struct CalibrationDataOptions {
  int batch_size = 32;
  int64_t max_batches = -1;  // -1: all the data
  bool shuffle = false;
  uint64_t seed = 0;
  bool progress = true;      // "calibration batch i/N, elapsed, rate" on stderr
};

// The ready-made calibrator: serves batches from `source` (null: none, for a
// build that relies on the cache), reads/writes the cache at `cache_path`
// (empty: no cache), and reports `algo` (for percentile, `percentile`).
std::unique_ptr<IInt8Calibrator> make_calibrator(CalibrationAlgoType algo, std::unique_ptr<BatchSource> source,
                                                 CalibrationDataOptions options, std::string cache_path,
                                                 double percentile = 99.99);

}  // namespace octet
