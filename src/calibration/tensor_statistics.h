// Streaming statistics of one tensor's values over any number of calibration batches,
// in bounded memory (activations are never kept).
//
// Histogram of |x| (kNumBins bins), built so that its result does not depend on how the
// data was split into batches nor on the order the batches (or merged statistics) came in:
//
//  * The bin width is always a power of two, w = 2^k, with k the smallest integer such that
//    kNumBins * 2^k > absmax seen so far (strictly, so absmax lies inside the last bin's
//    range; it always lands in the top half, bin >= kNumBins / 2).
//  * |x| lands in bin floor(|x| / 2^k). That is computed exactly: |x| is widened to double and
//    multiplied by 2^-k, which is exact for every float (no rounding, no underflow).
//  * When a later batch raises absmax so that k must grow by d, bin j of the new histogram
//    is the sum of old bins [j * 2^d, (j+1) * 2^d), i.e. adjacent pairs are merged d times.
//    Since floor(floor(v / 2^k) / 2^d) == floor(v / 2^(k+d)), that is exactly the histogram
//    one would have got with the final k from the start: the result is bit-identical for any
//    batching and any order, in one pass over the data.
//
// Zeros always land in bin 0, so while absmax is 0 (no nonzero finite value yet) k is not
// chosen and bin_width() is 0. NaN and +-Inf are skipped and counted, so callers can warn;
// every other statistic covers the finite values only.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace octet {

class TensorStatistics {
 public:
  static constexpr int kNumBins = 2048;

  TensorStatistics();

  // Adds n values (n == 0 is fine).
  void add(const float* data, int64_t n);
  // Adds everything `other` has seen; the same result as adding its data directly.
  void merge(const TensorStatistics& other);

  float absmax() const { return absmax_; }
  // Smallest / largest finite value; +inf / -inf while count() is 0.
  float min() const { return min_; }
  float max() const { return max_; }
  // Finite values seen (the histogram's total).
  uint64_t count() const { return count_; }
  uint64_t nan_count() const { return nan_count_; }
  uint64_t inf_count() const { return inf_count_; }

  // kNumBins counts; bin i covers |x| in [i * bin_width(), (i+1) * bin_width()).
  const std::vector<uint64_t>& histogram() const { return histogram_; }
  // 2^k, or 0 while absmax() is 0.
  double bin_width() const;
  // kNumBins + 1 edges, edges[i] = i * bin_width() (exact in double).
  std::vector<double> bin_edges() const;

 private:
  // Sentinel for "k not chosen yet" (absmax 0): below any k a float can need.
  static constexpr int kNoExponent = std::numeric_limits<int>::min();

  // Raises k to the smallest value that holds `absmax`, merging bins as needed.
  void grow_to_hold(float absmax);

  std::vector<uint64_t> histogram_;
  int bin_width_log2_ = kNoExponent;
  float absmax_ = 0.0f;
  float min_ = std::numeric_limits<float>::infinity();
  float max_ = -std::numeric_limits<float>::infinity();
  uint64_t count_ = 0;
  uint64_t nan_count_ = 0;
  uint64_t inf_count_ = 0;
};

}  // namespace octet
