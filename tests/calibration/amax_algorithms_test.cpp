#include "calibration/amax_algorithms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "octet/error.h"

using namespace octet;

namespace {

constexpr CalibrationAlgoType kAllAlgorithms[] = {
    CalibrationAlgoType::kENTROPY_CALIBRATION_2, CalibrationAlgoType::kENTROPY_CALIBRATION,
    CalibrationAlgoType::kMINMAX_CALIBRATION, CalibrationAlgoType::kPERCENTILE_CALIBRATION,
    CalibrationAlgoType::kMSE_CALIBRATION};

TensorStatistics stats_of(const std::vector<float>& values, size_t batch_size) {
  TensorStatistics stats;
  for (size_t start = 0; start < values.size(); start += batch_size) {
    stats.add(values.data() + start, static_cast<int64_t>(std::min(batch_size, values.size() - start)));
  }
  return stats;
}

std::vector<uint64_t> counts_at(size_t size, std::initializer_list<std::pair<size_t, uint64_t>> nonzero) {
  std::vector<uint64_t> counts(size, 0);
  for (auto [bin, count] : nonzero) counts[bin] = count;
  return counts;
}

}  // namespace

TEST(AmaxAlgorithms, MinmaxIsAbsmax) {
  const TensorStatistics stats = stats_of({0.5f, -7.25f, 3.0f}, 3);
  EXPECT_EQ(amax_minmax(AbsHistogram::of(stats)), 7.25f);
  // A bare histogram: the upper edge of the last nonzero bin.
  const std::vector<uint64_t> counts = counts_at(2048, {{3, 1}, {10, 2}});
  EXPECT_EQ(amax_minmax(AbsHistogram::from_counts(counts, 0.5)), 5.5f);
}

TEST(AmaxAlgorithms, PercentileIsTheFirstEdgeWhereTheCdfReachesIt) {
  // cdf: 0.5, 0.8, 0.95, 1.
  const std::vector<uint64_t> counts = counts_at(2048, {{0, 50}, {1, 30}, {2, 15}, {3, 5}});
  const AbsHistogram hist = AbsHistogram::from_counts(counts, 0.25);
  EXPECT_EQ(amax_percentile(hist, 0), 0.0f);
  EXPECT_EQ(amax_percentile(hist, 70), 0.25f);
  EXPECT_EQ(amax_percentile(hist, 90), 0.5f);
  EXPECT_EQ(amax_percentile(hist, 99.99), 0.75f);
  EXPECT_THROW(amax_percentile(hist, -1), Error);
  EXPECT_THROW(amax_percentile(hist, 100.5), Error);
  EXPECT_THROW(amax_percentile(hist, NAN), Error);
}

// 130 bins leave three candidates (i = 128, 129, 130), worked by hand. Level of source bin j:
// i = 128: j; i = 129: bins 0 and 1 share level 0; i = 130: bins 0, 1 and bins 65, 66 share.
TEST(AmaxAlgorithms, EntropyOnAHandWorkedHistogram) {
  const std::vector<uint64_t> counts = counts_at(130, {{0, 10}, {1, 4}, {65, 1}, {66, 3}, {127, 2}, {128, 2}});
  const AbsHistogram hist = AbsHistogram::from_counts(counts, 0.5);
  // entropy2 (bins[0] = 4, total 16): KL(128) = 0.75 ln(14/16) + 0.25 ln(1.75) = 0.0398 (the tail
  // of 2 folds into bin 127); KL(129) = 0 (the shared level holds 4 and 4); KL(130) =
  // 1/16 ln(1/2) + 3/16 ln(3/2) = 0.0327. Minimum at i = 129: amax 129 * 0.5.
  EXPECT_EQ(amax_entropy2(hist), 64.5f);
  // legacy (bins[0] = 10, total 22): KL(128) = 18/22 ln(20/22) + 4/22 ln(40/22) = 0.0307;
  // KL(129) = 10/22 ln(10/7) + 4/22 ln(4/7) = 0.0604; KL(130) = 0.0604 + 1/22 ln(1/2) +
  // 3/22 ln(3/2) = 0.0842. Minimum at i = 128.
  EXPECT_EQ(amax_entropy_legacy(hist), 64.0f);
}

TEST(AmaxAlgorithms, EntropyTiesGoToTheLastCandidate) {
  // One nonzero bin is its own level for every candidate: all divergences are exactly 0.
  const std::vector<uint64_t> counts = counts_at(130, {{5, 7}});
  EXPECT_EQ(amax_entropy2(AbsHistogram::from_counts(counts, 1.0)), 130.0f);
}

TEST(AmaxAlgorithms, EntropyOfAConstantTensorCoversIt) {
  // |x| = 3 lands in bin 1536 (w = 2^-9). Candidates up to 1536 see no data below the clip
  // (Q all zero: divergence +inf); later ones reproduce it exactly: the last one wins.
  const TensorStatistics stats = stats_of(std::vector<float>(100, -3.0f), 100);
  EXPECT_EQ(amax_entropy2(AbsHistogram::of(stats)), 4.0f);
  EXPECT_EQ(amax_entropy_legacy(AbsHistogram::of(stats)), 4.0f);
}

TEST(AmaxAlgorithms, EntropyNeedsAtLeast128Bins) {
  const std::vector<uint64_t> counts = counts_at(100, {{5, 7}});
  EXPECT_THROW(amax_entropy2(AbsHistogram::from_counts(counts, 1.0)), Error);
}

TEST(AmaxAlgorithms, MseOnHandWorkedHistograms) {
  // One bin, centre 3.5 (absmax 4): t = 1, 2, 3 clip it (errors 62.5, 22.5, 2.5); t = 4 puts it
  // at 111 * 4/127 = 3.496 (error 10 * 0.0039^2).
  const std::vector<uint64_t> one_bin = counts_at(4, {{3, 10}});
  EXPECT_EQ(amax_mse(AbsHistogram::from_counts(one_bin, 1.0)), 4.0f);
  // A constant 3 (bin 1536 of width 2^-9, centre capped at absmax 3) quantizes exactly both at
  // t = 3 (level 127) and at t = edge 2032 = 127/32 (level 96): the tie goes to the larger t.
  const TensorStatistics constant = stats_of(std::vector<float>(10, 3.0f), 10);
  EXPECT_EQ(amax_mse(AbsHistogram::of(constant)), 3.96875f);
}

TEST(AmaxAlgorithms, MseKeepsARareTailThatPercentileClips) {
  // 10000 values in [0, 10) and one at 99.5. Clipping that one costs its squared distance;
  // the threshold (cross-checked against the numpy recipe) clips it only slightly.
  const std::vector<uint64_t> counts = counts_at(100, {{0, 1000}, {1, 1000}, {2, 1000}, {3, 1000}, {4, 1000},
                                                       {5, 1000}, {6, 1000}, {7, 1000}, {8, 1000}, {9, 1000},
                                                       {99, 1}});
  const AbsHistogram hist = AbsHistogram::from_counts(counts, 1.0);
  EXPECT_EQ(amax_mse(hist), 92.0f);
  EXPECT_EQ(amax_percentile(hist, 99.99), 9.0f);
}

TEST(AmaxAlgorithms, EmptyAndAllZeroTensorsGetZero) {
  const TensorStatistics empty;
  const TensorStatistics zeros = stats_of(std::vector<float>(50, 0.0f), 50);
  for (CalibrationAlgoType algo : kAllAlgorithms) {
    EXPECT_EQ(compute_amax(empty, algo, 99.99), 0.0f);
    EXPECT_EQ(compute_amax(zeros, algo, 99.99), 0.0f);
  }
}

TEST(AmaxAlgorithms, HugeValuesSaturateAtFltMax) {
  // w = 2^117: the top bin edge, 2^128, is beyond the float range.
  const TensorStatistics stats = stats_of({FLT_MAX, 1.0f}, 2);
  for (CalibrationAlgoType algo : kAllAlgorithms) {
    const float amax = compute_amax(stats, algo, 100);
    EXPECT_TRUE(std::isfinite(amax)) << static_cast<int>(algo);
    EXPECT_GT(amax, 0.0f) << static_cast<int>(algo);
  }
}

TEST(AmaxAlgorithms, DispatcherPicksEachAlgorithm) {
  std::mt19937 rng(3);
  std::gamma_distribution<float> gamma(1.0f, 2.0f);
  std::vector<float> values(20000);
  for (float& v : values) v = gamma(rng);
  const TensorStatistics stats = stats_of(values, values.size());
  const AbsHistogram hist = AbsHistogram::of(stats);
  EXPECT_EQ(compute_amax(stats, CalibrationAlgoType::kENTROPY_CALIBRATION_2, 0), amax_entropy2(hist));
  EXPECT_EQ(compute_amax(stats, CalibrationAlgoType::kENTROPY_CALIBRATION, 0), amax_entropy_legacy(hist));
  EXPECT_EQ(compute_amax(stats, CalibrationAlgoType::kMINMAX_CALIBRATION, 0), stats.absmax());
  EXPECT_EQ(compute_amax(stats, CalibrationAlgoType::kPERCENTILE_CALIBRATION, 99.9), amax_percentile(hist, 99.9));
  EXPECT_EQ(compute_amax(stats, CalibrationAlgoType::kMSE_CALIBRATION, 0), amax_mse(hist));
  EXPECT_THROW(compute_amax(stats, CalibrationAlgoType::kLEGACY_CALIBRATION, 0), UnsupportedError);
  // No method goes beyond the top bin edge.
  for (CalibrationAlgoType algo : kAllAlgorithms) EXPECT_LE(compute_amax(stats, algo, 99.9), stats.bin_edges().back());
}

TEST(AmaxAlgorithms, EveryMethodIgnoresBatchSizeAndOrder) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> values(30000);
  // Magnitudes growing along the data, so the histogram's width grows while it streams in.
  for (size_t i = 0; i < values.size(); ++i) values[i] = normal(rng) * (1.0f + static_cast<float>(i) / 1000);
  for (size_t i = 0; i < values.size(); i += 3) values[i] = std::max(values[i], 0.0f);  // a spike at 0

  const TensorStatistics reference = stats_of(values, values.size());
  std::vector<TensorStatistics> batchings = {stats_of(values, 1), stats_of(values, 7), stats_of(values, 32)};
  std::shuffle(values.begin(), values.end(), std::mt19937(5));
  batchings.push_back(stats_of(values, 32));
  for (const TensorStatistics& stats : batchings) {
    ASSERT_EQ(stats.histogram(), reference.histogram());
    for (CalibrationAlgoType algo : kAllAlgorithms) {
      EXPECT_EQ(compute_amax(stats, algo, 99.99), compute_amax(reference, algo, 99.99)) << static_cast<int>(algo);
    }
  }
}
