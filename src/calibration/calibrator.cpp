#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <random>

#include "octet/calibration_cache.h"
#include "octet/calibrator.h"
#include "octet/error.h"

namespace octet {
namespace {

// Uniform in [0, bound) by rejection. std::uniform_int_distribution and
// std::shuffle are implementation-defined; this keeps a seed's order the same
// on every standard library.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // a multiple of bound: draws at or above it would bias the result
  uint64_t draw;
  do draw = rng();
  while (draw >= limit);
  return draw % bound;
}

std::vector<int64_t> sample_order(int64_t count, bool shuffle, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  std::mt19937_64 rng(seed);
  for (int64_t i = count - 1; i > 0; --i)  // Fisher-Yates
    std::swap(order[i], order[uniform_below(rng, static_cast<uint64_t>(i) + 1)]);
  return order;
}

// One class for every algorithm: it derives from IInt8PercentileCalibrator so
// the builder can ask any ready-made calibrator for its percentile, and
// getAlgorithm() reports whichever algorithm it was made for.
class DataCalibrator : public IInt8PercentileCalibrator, public ICalibrationSampleShape {
 public:
  DataCalibrator(CalibrationAlgoType algo, std::unique_ptr<BatchSource> source, CalibrationDataOptions options,
                 std::string cache_path, double percentile)
      : algo_(algo),
        source_(std::move(source)),
        options_(options),
        cache_path_(std::move(cache_path)),
        percentile_(percentile) {
    if (options_.batch_size < 1) throw Error("calibration batch size must be at least 1");
    if (!source_) return;  // cache only: getBatch has nothing to give
    sample_numel_ = shape_numel(source_->sample_shape());
    if (options_.max_batches == 0) throw Error("calibration needs at least one batch (max_batches is 0)");
    if (source_->size() < options_.batch_size)
      throw Error("calibration data " + source_->describe() + " holds " + std::to_string(source_->size()) +
                  " samples, fewer than one batch of " + std::to_string(options_.batch_size));
    // A fixed batch size, as in TensorRT: the last partial batch is dropped.
    batch_count_ = source_->size() / options_.batch_size;
    if (options_.max_batches > 0) batch_count_ = std::min(batch_count_, options_.max_batches);
    order_ = sample_order(source_->size(), options_.shuffle, options_.seed);
  }

  int getBatchSize() const override { return options_.batch_size; }
  std::optional<Shape> calibration_sample_shape() const override {
    return source_ ? std::optional<Shape>(source_->sample_shape()) : std::nullopt;
  }
  std::string describe_calibration_data() const override { return source_ ? source_->describe() : "no data"; }

  bool getBatch(void* bindings[], const char* names[], int nbBindings) override {
    if (!source_) return false;
    if (nbBindings != 1)
      throw Error("the calibrator for " + source_->describe() + " feeds exactly one network input, asked for " +
                  std::to_string(nbBindings));
    if (next_batch_ == batch_count_) return false;
    if (next_batch_ == 0) start_ = std::chrono::steady_clock::now();
    if (!bindings[0]) throw Error("the calibrator for " + source_->describe() + " was given a null input buffer");
    float* dst = static_cast<float*>(bindings[0]);
    const int64_t first = next_batch_ * options_.batch_size;
    for (int64_t i = 0; i < options_.batch_size; ++i)
      source_->read_sample(order_[static_cast<size_t>(first + i)], dst + i * sample_numel_);
    ++next_batch_;
    if (options_.progress) report_progress();
    return true;
  }

  const void* readCalibrationCache(std::size_t& length) override {
    length = 0;
    if (cache_path_.empty() || !std::filesystem::exists(cache_path_)) return nullptr;
    std::ifstream in(cache_path_, std::ios::binary);
    if (!in) throw Error(cache_path_ + ": cannot read calibration cache");
    cache_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    length = cache_.size();
    return cache_.data();
  }

  void writeCalibrationCache(const void* ptr, std::size_t length) override {
    if (!cache_path_.empty()) write_file_atomically(cache_path_, std::string_view(static_cast<const char*>(ptr), length));
  }

  CalibrationAlgoType getAlgorithm() override { return algo_; }
  double getPercentile() const override { return percentile_; }

 private:
  // On a terminal one line rewritten in place; in a log at most 20 lines in all.
  void report_progress() {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(next_batch_ * options_.batch_size) / elapsed : 0.0;
    char line[128];
    std::snprintf(line, sizeof line, "calibration batch %lld/%lld, %.1f s elapsed, %.1f samples/s",
                  static_cast<long long>(next_batch_), static_cast<long long>(batch_count_), elapsed, rate);
    if (isatty(fileno(stderr)))
      std::fprintf(stderr, "\r%s%s", line, next_batch_ == batch_count_ ? "\n" : "");
    else if (next_batch_ * 20 / batch_count_ != (next_batch_ - 1) * 20 / batch_count_)  // always true for the last
      std::fprintf(stderr, "%s\n", line);
  }

  CalibrationAlgoType algo_;
  std::unique_ptr<BatchSource> source_;
  CalibrationDataOptions options_;
  std::string cache_path_;
  double percentile_;
  int64_t sample_numel_ = 0;
  int64_t batch_count_ = 0;
  int64_t next_batch_ = 0;
  std::vector<int64_t> order_;
  std::string cache_;  // backs the pointer readCalibrationCache returns
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::unique_ptr<IInt8Calibrator> make_calibrator(CalibrationAlgoType algo, std::unique_ptr<BatchSource> source,
                                                 CalibrationDataOptions options, std::string cache_path,
                                                 double percentile) {
  return std::make_unique<DataCalibrator>(algo, std::move(source), options, std::move(cache_path), percentile);
}

}  // namespace octet
