#include "calibration/amax_algorithms.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "octet/error.h"

namespace octet {
namespace {

constexpr int kQuantLevels = 128;   // INT8 magnitudes: 2^(8-1)
constexpr int64_t kStartBin = 128;  // the smallest entropy candidate, as pytorch-quantization's

float to_amax(double threshold) { return static_cast<float>(std::min(threshold, static_cast<double>(FLT_MAX))); }

uint64_t total_count(std::span<const uint64_t> counts) {
  return std::accumulate(counts.begin(), counts.end(), uint64_t{0});
}

// KL(P || Q) of candidate i, as documented at amax_entropy2; level and q are scratch space
// of at least i entries.
double candidate_divergence(const std::vector<uint64_t>& bins, int64_t i, uint64_t total, uint64_t tail,
                            std::vector<int>& level, std::vector<double>& q) {
  double level_sum[kQuantLevels] = {};
  int64_t level_nonzero[kQuantLevels] = {};
  int current_level = 0;
  for (int64_t j = 0; j < i; ++j) {
    while ((current_level + 1) * i <= j * kQuantLevels) ++current_level;  // floor(128 j / i)
    level[j] = current_level;
    if (bins[j] == 0) continue;
    level_sum[current_level] += static_cast<double>(bins[j]);
    ++level_nonzero[current_level];
  }
  double q_total = 0;
  for (int64_t j = 0; j < i; ++j) {
    q[j] = bins[j] == 0 ? 0.0 : level_sum[level[j]] / static_cast<double>(level_nonzero[level[j]]);
    q_total += q[j];
  }
  double divergence = 0;
  for (int64_t j = 0; j < i; ++j) {
    const uint64_t p_count = bins[j] + (j == i - 1 ? tail : 0);
    if (p_count == 0) continue;
    if (q[j] == 0) return std::numeric_limits<double>::infinity();
    const double p = static_cast<double>(p_count) / static_cast<double>(total);
    divergence += p * std::log(p / (q[j] / q_total));
  }
  return divergence;
}

float amax_entropy(const AbsHistogram& hist, bool ignore_zero_bin) {
  const int64_t n = static_cast<int64_t>(hist.counts.size());
  if (n < kStartBin) {
    throw Error("entropy calibration needs a histogram of at least " + std::to_string(kStartBin) + " bins, got " +
                std::to_string(n));
  }
  std::vector<uint64_t> bins(hist.counts.begin(), hist.counts.end());
  if (ignore_zero_bin) bins[0] = bins[1];
  const uint64_t total = total_count(bins);
  if (hist.absmax == 0 || total == 0) return 0.0f;

  std::vector<int> level(n);
  std::vector<double> q(n);
  double best_divergence = std::numeric_limits<double>::infinity();
  int64_t best_bin = n;
  uint64_t below = std::accumulate(bins.begin(), bins.begin() + kStartBin, uint64_t{0});
  for (int64_t i = kStartBin; i <= n; ++i) {
    const double divergence = candidate_divergence(bins, i, total, total - below, level, q);
    if (divergence <= best_divergence) {  // <=: the last minimum wins
      best_divergence = divergence;
      best_bin = i;
    }
    if (i < n) below += bins[i];
  }
  return to_amax(hist.edge(best_bin));
}

}  // namespace

AbsHistogram AbsHistogram::of(const TensorStatistics& stats) {
  return {stats.histogram(), stats.bin_width(), stats.absmax()};
}

AbsHistogram AbsHistogram::from_counts(std::span<const uint64_t> counts, double bin_width) {
  AbsHistogram hist{counts, bin_width, 0.0};
  for (int64_t i = static_cast<int64_t>(counts.size()) - 1; i >= 0; --i) {
    if (counts[i] != 0) {
      hist.absmax = hist.edge(i + 1);
      break;
    }
  }
  return hist;
}

float amax_minmax(const AbsHistogram& hist) { return to_amax(hist.absmax); }

float amax_entropy2(const AbsHistogram& hist) { return amax_entropy(hist, /*ignore_zero_bin=*/true); }

float amax_entropy_legacy(const AbsHistogram& hist) { return amax_entropy(hist, /*ignore_zero_bin=*/false); }

float amax_percentile(const AbsHistogram& hist, double percentile) {
  if (!(percentile >= 0 && percentile <= 100)) {
    throw Error("calibration percentile must be in [0, 100], got " + std::to_string(percentile));
  }
  const uint64_t total = total_count(hist.counts);
  if (hist.absmax == 0 || total == 0) return 0.0f;
  const double target = percentile / 100;
  const int64_t n = static_cast<int64_t>(hist.counts.size());
  double cdf = 0;
  for (int64_t i = 0; i < n; ++i) {
    cdf += static_cast<double>(hist.counts[i]) / static_cast<double>(total);
    if (cdf >= target) return to_amax(hist.edge(i));
  }
  return to_amax(hist.edge(n));  // rounding left the cdf just short of the target
}

float amax_mse(const AbsHistogram& hist) {
  if (hist.absmax == 0 || total_count(hist.counts) == 0) return 0.0f;
  const int64_t n = static_cast<int64_t>(hist.counts.size());
  // Bin centres; only the bin holding absmax can have its centre beyond it.
  std::vector<double> centres(n);
  for (int64_t j = 0; j < n; ++j) centres[j] = std::min((static_cast<double>(j) + 0.5) * hist.bin_width, hist.absmax);

  auto squared_error = [&](double threshold) {
    double error = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (hist.counts[j] == 0) continue;
      const double x = centres[j];
      const double level = std::clamp(std::nearbyint(x / threshold * 127), 0.0, 127.0);
      const double diff = x - level * threshold / 127;
      error += static_cast<double>(hist.counts[j]) * diff * diff;
    }
    return error;
  };

  double best_threshold = hist.absmax;
  double best_error = squared_error(hist.absmax);
  for (int64_t i = 1; i <= n; ++i) {
    const double threshold = hist.edge(i);
    const double error = squared_error(threshold);
    if (error < best_error || (error == best_error && threshold > best_threshold)) {
      best_error = error;
      best_threshold = threshold;
    }
  }
  return to_amax(best_threshold);
}

float compute_amax(const AbsHistogram& hist, CalibrationAlgoType algo, double percentile) {
  switch (algo) {
    case CalibrationAlgoType::kENTROPY_CALIBRATION_2: return amax_entropy2(hist);
    case CalibrationAlgoType::kENTROPY_CALIBRATION: return amax_entropy_legacy(hist);
    case CalibrationAlgoType::kMINMAX_CALIBRATION: return amax_minmax(hist);
    case CalibrationAlgoType::kPERCENTILE_CALIBRATION: return amax_percentile(hist, percentile);
    case CalibrationAlgoType::kMSE_CALIBRATION: return amax_mse(hist);
    case CalibrationAlgoType::kLEGACY_CALIBRATION: break;
  }
  throw UnsupportedError("calibration algorithm " + std::to_string(static_cast<int>(algo)) +
                         " (TensorRT's legacy calibrator) is not implemented; use entropy, minmax, percentile or mse");
}

float compute_amax(const TensorStatistics& stats, CalibrationAlgoType algo, double percentile) {
  return compute_amax(AbsHistogram::of(stats), algo, percentile);
}

}  // namespace octet
