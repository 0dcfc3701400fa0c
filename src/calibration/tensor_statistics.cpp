#include "calibration/tensor_statistics.h"

#include <algorithm>
#include <cmath>

namespace octet {
namespace {

constexpr int kNumBinsLog2 = 11;
static_assert(1 << kNumBinsLog2 == TensorStatistics::kNumBins);

// Adds `bins`, binned at width 2^from_log2, into `into`, binned at the same or a coarser width
// 2^to_log2: bin j lands in j >> (to_log2 - from_log2), i.e. adjacent pairs merged that often.
// A shift of kNumBinsLog2 or more sends everything to bin 0.
void add_coarsened(const std::vector<uint64_t>& bins, int from_log2, int to_log2, std::vector<uint64_t>& into) {
  const int64_t shift = std::min<int64_t>(int64_t{to_log2} - from_log2, kNumBinsLog2);
  for (int j = 0; j < TensorStatistics::kNumBins; ++j) into[j >> shift] += bins[j];
}

}  // namespace

TensorStatistics::TensorStatistics() : histogram_(kNumBins, 0) {}

double TensorStatistics::bin_width() const {
  return bin_width_log2_ == kNoExponent ? 0.0 : std::ldexp(1.0, bin_width_log2_);
}

std::vector<double> TensorStatistics::bin_edges() const {
  std::vector<double> edges(kNumBins + 1);
  for (int i = 0; i <= kNumBins; ++i) edges[i] = i * bin_width();
  return edges;
}

void TensorStatistics::grow_to_hold(float absmax) {
  if (absmax == 0.0f) return;
  int exponent;
  std::frexp(absmax, &exponent);  // 2^(exponent-1) <= absmax < 2^exponent
  const int needed = exponent - kNumBinsLog2;
  if (bin_width_log2_ != kNoExponent && needed <= bin_width_log2_) return;
  // Before k was chosen only bin 0 (zeros) can hold counts, and it stays bin 0.
  if (bin_width_log2_ != kNoExponent) {
    std::vector<uint64_t> coarser(kNumBins, 0);
    add_coarsened(histogram_, bin_width_log2_, needed, coarser);
    histogram_.swap(coarser);
  }
  bin_width_log2_ = needed;
}

void TensorStatistics::add(const float* data, int64_t n) {
  // First pass: the batch's finite extremes, so that k is final before any value is binned.
  float batch_min = std::numeric_limits<float>::infinity();
  float batch_max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const float v = data[i];
    if (std::isnan(v)) {
      ++nan_count_;
    } else if (std::isinf(v)) {
      ++inf_count_;
    } else {
      batch_min = std::min(batch_min, v);
      batch_max = std::max(batch_max, v);
    }
  }
  if (batch_min > batch_max) return;  // no finite value
  const float batch_absmax = std::max(std::fabs(batch_min), std::fabs(batch_max));
  grow_to_hold(batch_absmax);
  absmax_ = std::max(absmax_, batch_absmax);
  min_ = std::min(min_, batch_min);
  max_ = std::max(max_, batch_max);

  // Multiplying by a power of two is exact here (the result is in [0, kNumBins) and every float
  // widened to double stays normal), so truncation gives exactly floor(|v| / 2^k).
  // While k is not chosen all finite values are zero: scale 0 sends them to bin 0.
  const double scale = bin_width_log2_ == kNoExponent ? 0.0 : std::ldexp(1.0, -bin_width_log2_);
  for (int64_t i = 0; i < n; ++i) {
    const float v = data[i];
    if (!std::isfinite(v)) continue;
    ++histogram_[static_cast<int>(std::fabs(static_cast<double>(v)) * scale)];
    ++count_;
  }
}

void TensorStatistics::merge(const TensorStatistics& other) {
  grow_to_hold(other.absmax_);
  if (other.bin_width_log2_ == kNoExponent) {
    histogram_[0] += other.histogram_[0];  // other saw only zeros
  } else {
    add_coarsened(other.histogram_, other.bin_width_log2_, bin_width_log2_, histogram_);
  }
  absmax_ = std::max(absmax_, other.absmax_);
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  nan_count_ += other.nan_count_;
  inf_count_ += other.inf_count_;
}

}  // namespace octet
