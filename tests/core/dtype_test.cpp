// float <-> IEEE half conversion (FP16 engines' weights, Cast to float16 on the CPU):
// hand-checkable bit patterns, the subnormal range and its rounding above all.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "octet/dtype.h"

using namespace octet;

namespace {

struct HalfCase {
  float value;
  uint16_t bits;
};

TEST(FloatToHalf, RoundsToNearestEvenAcrossTheWholeRange) {
  const float inf = std::numeric_limits<float>::infinity();
  const HalfCase cases[] = {
      {0.0f, 0x0000},           {-0.0f, 0x8000},           {1.0f, 0x3c00},
      {-2.5f, 0xc100},          {0.1f, 0x2e66},            {65504.0f, 0x7bff},   // largest half
      {65519.0f, 0x7bff},       {65520.0f, 0x7c00},        {1e6f, 0x7c00},       // past it: rounds to inf
      {inf, 0x7c00},            {-inf, 0xfc00},
      {0x1p-14f, 0x0400},       {0x1p-15f, 0x0200},        {0x1p-24f, 0x0001},   // smallest normal, subnormals
      {-0x1p-24f, 0x8001},      {1023 * 0x1p-24f, 0x03ff}, {1e-5f, 0x00a8},      // 1e-5 = 167.77 x 2^-24
      {0x1p-25f, 0x0000},       {1.5f * 0x1p-25f, 0x0001}, {3 * 0x1p-25f, 0x0002},  // ties to even, above a tie
      {1023.5f * 0x1p-24f, 0x0400},                                              // a tie carrying into the normals
      {0x1p-26f, 0x0000},       {1e-8f, 0x0000},           {-1e-8f, 0x8000},
  };
  for (const HalfCase& c : cases) EXPECT_EQ(float_to_half(c.value), c.bits) << c.value;
  const uint16_t nan = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
}

// Every rounding boundary of the half grid: the float midway between two adjacent
// finite halves goes to the one with an even mantissa, the floats just either side
// of it to the nearer one (the midpoints are exact floats, subnormal halves included).
TEST(FloatToHalf, EveryMidpointBetweenAdjacentHalvesRoundsToEven) {
  for (uint16_t low = 0; low < 0x7bff; ++low) {
    const uint16_t high = static_cast<uint16_t>(low + 1);
    const float a = half_to_float(low), b = half_to_float(high);
    const float mid = a + (b - a) / 2;
    ASSERT_TRUE(a < mid && mid < b) << std::hex << low;
    ASSERT_EQ(float_to_half(mid), (low & 1) ? high : low) << std::hex << low;
    ASSERT_EQ(float_to_half(std::nextafter(mid, 0.0f)), low) << std::hex << low;
    ASSERT_EQ(float_to_half(std::nextafter(mid, 1e6f)), high) << std::hex << low;
    ASSERT_EQ(float_to_half(-mid), 0x8000 | float_to_half(mid)) << std::hex << low;
  }
}

TEST(HalfToFloat, EveryFiniteHalfRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const float f = half_to_float(h);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << bits;
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << std::hex << bits << " = " << f;
  }
  EXPECT_EQ(half_to_float(0x0001), 0x1p-24f);
  EXPECT_EQ(half_to_float(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
}

}  // namespace
