#include "calibration/tensor_statistics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

using octet::TensorStatistics;

namespace {

constexpr int kBins = TensorStatistics::kNumBins;

TensorStatistics stats_of(const std::vector<float>& values) {
  TensorStatistics stats;
  stats.add(values.data(), static_cast<int64_t>(values.size()));
  return stats;
}

TensorStatistics in_batches(const std::vector<float>& values, size_t batch_size) {
  TensorStatistics stats;
  for (size_t start = 0; start < values.size(); start += batch_size) {
    stats.add(values.data() + start, static_cast<int64_t>(std::min(batch_size, values.size() - start)));
  }
  return stats;
}

void expect_identical(const TensorStatistics& a, const TensorStatistics& b) {
  EXPECT_EQ(a.histogram(), b.histogram());
  EXPECT_EQ(a.bin_width(), b.bin_width());
  EXPECT_EQ(a.absmax(), b.absmax());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.nan_count(), b.nan_count());
  EXPECT_EQ(a.inf_count(), b.inf_count());
}

// Values whose magnitude grows along the vector (so in order, k has to grow many times),
// with exact zeros, negatives, and a few NaN / Inf.
std::vector<float> growing_data(int n) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal;
  std::vector<float> values(n);
  for (int i = 0; i < n; ++i) values[i] = normal(rng) * std::ldexp(1.0f, i / 100 - 20);
  for (int i = 0; i < n; i += 97) values[i] = 0.0f;
  values[n / 3] = NAN;
  values[n / 2] = -INFINITY;
  return values;
}

}  // namespace

TEST(TensorStatistics, BinWidthIsTheSmallestPowerOfTwoAboveAbsmaxOver2048) {
  // 3 = 0.75 * 2^2: w = 2^-9, 2048 w = 4 > 3 but 2048 * 2^-10 = 2 is not.
  TensorStatistics stats = stats_of({3.0f, -1.0f, 0.5f});
  EXPECT_EQ(stats.bin_width(), std::ldexp(1.0, -9));
  EXPECT_EQ(stats.histogram()[1536], 1u);  // 3 * 2^9
  EXPECT_EQ(stats.histogram()[512], 1u);   // |-1| * 2^9
  EXPECT_EQ(stats.histogram()[256], 1u);
  EXPECT_EQ(stats.absmax(), 3.0f);
  EXPECT_EQ(stats.min(), -1.0f);
  EXPECT_EQ(stats.max(), 3.0f);
  EXPECT_EQ(stats.count(), 3u);

  // An exact power of two must fall inside the range, strictly: 4 needs 2048 w = 8.
  TensorStatistics pow2 = stats_of({-4.0f});
  EXPECT_EQ(pow2.bin_width(), std::ldexp(1.0, -8));
  EXPECT_EQ(pow2.histogram()[1024], 1u);
}

TEST(TensorStatistics, BinEdgesAreMultiplesOfTheWidth) {
  TensorStatistics stats = stats_of({0.7f});
  const std::vector<double> edges = stats.bin_edges();
  ASSERT_EQ(edges.size(), static_cast<size_t>(kBins + 1));
  const double w = stats.bin_width();
  EXPECT_EQ(w, std::ldexp(1.0, -11));  // 0.7 < 1 = 2048 * 2^-11
  for (int i = 0; i <= kBins; ++i) EXPECT_EQ(edges[i], i * w);
  EXPECT_GT(edges[kBins], 0.7);
}

TEST(TensorStatistics, ValuesOnABinEdgeGoToTheBinAbove) {
  const float w = std::ldexp(1.0f, -9);  // absmax 3
  TensorStatistics stats = stats_of({3.0f, 5 * w, 5 * w - std::ldexp(w, -20)});
  EXPECT_EQ(stats.histogram()[5], 1u);
  EXPECT_EQ(stats.histogram()[4], 1u);
}

TEST(TensorStatistics, GrowingTheWidthMergesAdjacentPairs) {
  TensorStatistics stats = stats_of({1.0f, 0.25f, 0.2501f});  // w = 2^-10
  ASSERT_EQ(stats.bin_width(), std::ldexp(1.0, -10));
  ASSERT_EQ(stats.histogram()[256], 2u);  // 0.25 and 0.2501 share [0.25, 0.25 + 2^-10)
  stats.add(std::vector<float>{5.0f}.data(), 1);  // w = 2^-8: bin j = old bins 4j..4j+3
  EXPECT_EQ(stats.bin_width(), std::ldexp(1.0, -8));
  EXPECT_EQ(stats.histogram()[1280], 1u);  // 5
  EXPECT_EQ(stats.histogram()[256], 1u);   // 1
  EXPECT_EQ(stats.histogram()[64], 2u);    // 0.25, 0.2501
  expect_identical(stats, stats_of({1.0f, 0.25f, 0.2501f, 5.0f}));
}

TEST(TensorStatistics, AllZeroTensorsHaveNoWidthAndCountInBinZero) {
  TensorStatistics stats = stats_of({0.0f, -0.0f, 0.0f});
  EXPECT_EQ(stats.absmax(), 0.0f);
  EXPECT_EQ(stats.bin_width(), 0.0);
  EXPECT_EQ(stats.histogram()[0], 3u);
  EXPECT_EQ(stats.count(), 3u);
  for (double edge : stats.bin_edges()) EXPECT_EQ(edge, 0.0);

  stats.add(std::vector<float>{2.0f}.data(), 1);  // the zeros stay in bin 0
  EXPECT_EQ(stats.histogram()[0], 3u);
  expect_identical(stats, stats_of({0.0f, 2.0f, -0.0f, 0.0f}));
}

TEST(TensorStatistics, EmptyBatchesChangeNothing) {
  TensorStatistics stats;
  stats.add(nullptr, 0);
  EXPECT_EQ(stats.count(), 0u);
  EXPECT_EQ(stats.absmax(), 0.0f);
  EXPECT_EQ(stats.min(), INFINITY);
  EXPECT_EQ(stats.max(), -INFINITY);
  TensorStatistics some = stats_of({1.5f});
  some.add(nullptr, 0);
  some.merge(TensorStatistics());
  expect_identical(some, stats_of({1.5f}));
}

TEST(TensorStatistics, NanAndInfAreSkippedAndCounted) {
  TensorStatistics stats = stats_of({NAN, 1.0f, INFINITY, -INFINITY, -2.0f, NAN});
  EXPECT_EQ(stats.nan_count(), 2u);
  EXPECT_EQ(stats.inf_count(), 2u);
  EXPECT_EQ(stats.count(), 2u);
  EXPECT_EQ(stats.absmax(), 2.0f);
  EXPECT_EQ(stats.min(), -2.0f);
  EXPECT_EQ(stats.max(), 1.0f);
  TensorStatistics finite = stats_of({1.0f, -2.0f});
  EXPECT_EQ(stats.histogram(), finite.histogram());
  EXPECT_EQ(stats.bin_width(), finite.bin_width());

  TensorStatistics only_nan = stats_of({NAN});
  EXPECT_EQ(only_nan.count(), 0u);
  EXPECT_EQ(only_nan.absmax(), 0.0f);
}

TEST(TensorStatistics, ExtremeFloatsAreBinnedExactly) {
  TensorStatistics huge = stats_of({FLT_MAX, 1.0f});
  EXPECT_EQ(huge.bin_width(), std::ldexp(1.0, 117));  // FLT_MAX < 2^128
  EXPECT_EQ(huge.histogram()[2047], 1u);
  EXPECT_EQ(huge.histogram()[0], 1u);

  const float tiny = std::ldexp(1.0f, -149);  // the smallest subnormal
  TensorStatistics subnormal = stats_of({tiny, 3 * tiny});  // absmax 0.75 * 2^-147
  EXPECT_EQ(subnormal.bin_width(), std::ldexp(1.0, -158));
  EXPECT_EQ(subnormal.histogram()[512], 1u);
  EXPECT_EQ(subnormal.histogram()[1536], 1u);
}

TEST(TensorStatistics, ResultDoesNotDependOnBatchSizeOrOrder) {
  std::vector<float> values = growing_data(5000);
  const TensorStatistics whole = stats_of(values);
  EXPECT_EQ(whole.nan_count(), 1u);
  EXPECT_EQ(whole.inf_count(), 1u);
  for (size_t batch_size : {1, 7, 32}) {
    SCOPED_TRACE(batch_size);
    expect_identical(in_batches(values, batch_size), whole);
  }
  std::reverse(values.begin(), values.end());  // absmax first: k never grows
  expect_identical(in_batches(values, 32), whole);
  std::shuffle(values.begin(), values.end(), std::mt19937(7));
  expect_identical(in_batches(values, 7), whole);
}

TEST(TensorStatistics, MergeMatchesAddingTheDataInAnyOrder) {
  const std::vector<float> values = growing_data(3000);
  const TensorStatistics whole = stats_of(values);
  const std::vector<float> small(values.begin(), values.begin() + 1000);
  const std::vector<float> medium(values.begin() + 1000, values.begin() + 2000);
  const std::vector<float> large(values.begin() + 2000, values.end());

  TensorStatistics forward = stats_of(small);
  forward.merge(stats_of(medium));
  forward.merge(stats_of(large));
  expect_identical(forward, whole);

  TensorStatistics backward = stats_of(large);
  backward.merge(stats_of(small));
  backward.merge(stats_of(medium));
  expect_identical(backward, whole);

  TensorStatistics zeros = stats_of({0.0f, 0.0f});
  zeros.merge(stats_of(values));
  TensorStatistics values_then_zeros = stats_of(values);
  values_then_zeros.merge(stats_of({0.0f, 0.0f}));
  expect_identical(zeros, values_then_zeros);
  EXPECT_EQ(zeros.histogram()[0], whole.histogram()[0] + 2);
}
