// Threshold (amax) selection for symmetric INT8 calibration: each function picks the |x|
// beyond which a tensor's values are clipped, from a histogram of |x|. docs/calibration.md
// has the recipes with their rationale.
//
// Every function returns 0 for a histogram without data (absmax 0); callers handle that.
// Results are converted to float saturating at FLT_MAX (a bin edge of a histogram of values
// near FLT_MAX can exceed the float range).
#pragma once
#include <cstdint>
#include <span>

#include "calibration/tensor_statistics.h"
#include "octet/calibrator.h"

namespace octet {

// A histogram of |x|: bin i covers [i * bin_width, (i+1) * bin_width); bin edge i is
// i * bin_width, for i in 0..counts.size().
struct AbsHistogram {
  std::span<const uint64_t> counts;
  double bin_width = 0;
  double absmax = 0;  // the largest |x|; lies in the last nonzero bin

  // A view of `stats` (which must outlive it).
  static AbsHistogram of(const TensorStatistics& stats);
  // For a bare histogram, where absmax is not known: the upper edge of the last nonzero bin.
  static AbsHistogram from_counts(std::span<const uint64_t> counts, double bin_width);

  double edge(int64_t i) const { return static_cast<double>(i) * bin_width; }
};

// max |x|.
float amax_minmax(const AbsHistogram& hist);

// TensorRT's entropy calibration (IInt8EntropyCalibrator2) as NVIDIA's pytorch-quantization
// re-implements it (_compute_amax_entropy, num_bits 8, signed, stride 1, start_bin 128).
// With bins = counts, except bins[0] = bins[1] (the zero bin's spike is ignored), and for
// every candidate i in [128, bins.size()]:
//   P = bins[0..i), with the sum of bins[i..) (the clipped tail) added to P[i-1];
//   Q: bins[0..i) grouped into 128 levels, source bin j in level floor(128 j / i) (numpy's
//      digitize(range(i), linspace(0, i, 129)) - 1, exact since i/128 is a dyadic fraction);
//      each nonzero source bin gets its level's total divided by the level's number of
//      nonzero source bins; empty source bins stay 0;
//   divergence(i) = KL(P/sum P || Q/sum Q) = sum over P_j > 0 of p_j ln(p_j / q_j), +inf
//      when some P_j > 0 meets q_j = 0 (scipy.stats.entropy; where all of Q is 0 scipy
//      yields NaN, here it is +inf).
// amax = edge(i) for the LAST i with the smallest divergence. Needs >= 128 bins.
float amax_entropy2(const AbsHistogram& hist);

// TensorRT's legacy IInt8EntropyCalibrator. TensorRT does not publish how it differs from
// the "2" variant; octet's choice is the same KL search with the zero bin kept as counted
// (no bins[0] = bins[1]), so a spike of exact zeros (e.g. after ReLU) weighs in.
float amax_entropy_legacy(const AbsHistogram& hist);

// pytorch-quantization's _compute_amax_percentile: cdf = cumsum(counts / total) (in double,
// in order); idx = the first i with cdf[i] >= percentile / 100; amax = edge(idx).
// Throws octet::Error unless 0 <= percentile <= 100.
float amax_percentile(const AbsHistogram& hist, double percentile);

// octet's default: the threshold minimising the expected squared quantization error,
// estimated from the histogram. Candidates t: edge(i) for i in 1..counts.size(), and absmax.
//   error(t) = sum_j counts[j] * (c_j - fake_quant(c_j, t))^2,
//   c_j = centre of bin j (for the bin holding absmax, min(centre, absmax)),
//   fake_quant(x, t) = clamp(round_half_even(x / t * 127), 0, 127) * t / 127.
// The smallest error wins; ties go to the larger t.
float amax_mse(const AbsHistogram& hist);

// The algorithm `algo` asks for; `percentile` is used by kPERCENTILE_CALIBRATION only.
// Throws octet::UnsupportedError for kLEGACY_CALIBRATION (TensorRT's undocumented
// regression-based calibrator, which octet does not implement).
float compute_amax(const AbsHistogram& hist, CalibrationAlgoType algo, double percentile);
float compute_amax(const TensorStatistics& stats, CalibrationAlgoType algo, double percentile);

}  // namespace octet
