// The numeric core of octet's INT8 kernels (docs/int8_kernels.md): rounding,
// saturation, requantization multipliers and activation bounds. Shared by the
// reference Int8Conv / Int8MatMul / Int8Add and by every faster INT8 kernel,
// which must reproduce these results bit for bit. Free of octet headers on purpose.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace octet::int8 {

// Activations are int8 in [-128, 127]; weights are restricted to [-127, 127].
inline constexpr int32_t kMin = -128, kMax = 127;
inline constexpr int32_t kWeightMin = -127;

// Round half to even: std::nearbyint under the default rounding mode (FE_TONEAREST).
inline float round_half_even(float v) { return std::nearbyint(v); }

// Clamps an already rounded value into [lo, hi] (a sub-range of [-128, 127]) and
// converts it. NaN (not reachable with validated scales) gives lo.
inline int8_t saturate(float rounded, int32_t lo, int32_t hi) {
  const float lo_f = static_cast<float>(lo), hi_f = static_cast<float>(hi);
  const float v = rounded > lo_f ? rounded : lo_f;
  return static_cast<int8_t>(v < hi_f ? v : hi_f);
}

// The float product q * scale, correctly rounded. It is computed exactly in double
// (8 x 24 significant bits) and rounded once to float, which also keeps compilers
// from fusing it into a following add (FMA), as the contract requires.
inline float scaled(int32_t q, float scale) {
  return static_cast<float>(static_cast<double>(q) * static_cast<double>(scale));
}

// Quantize a real value to an activation: saturate(round_half_even(x / scale)).
inline int8_t quantize(float x, float scale) { return saturate(round_half_even(x / scale), kMin, kMax); }

// acc + bias, saturated to int32 (only reachable with a bias near the int32 limits).
inline int32_t add_bias(int32_t acc, int32_t bias) {
  const int64_t sum = static_cast<int64_t>(acc) + bias;
  if (sum > std::numeric_limits<int32_t>::max()) return std::numeric_limits<int32_t>::max();
  if (sum < std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(sum);
}

// Per-channel requantization multiplier M = x_scale * w_scale / y_scale, computed in
// double and stored as float.
inline float requant_multiplier(float x_scale, float w_scale, float y_scale) {
  return static_cast<float>(static_cast<double>(x_scale) * w_scale / y_scale);
}
// Int8Add's ratio of an input scale to the output scale, computed in double and stored as float.
inline float scale_ratio(float scale, float y_scale) {
  return static_cast<float>(static_cast<double>(scale) / y_scale);
}
// Per-channel dequantization scale of an accumulator (float output): x_scale * w_scale.
inline float accumulator_scale(float x_scale, float w_scale) {
  return static_cast<float>(static_cast<double>(x_scale) * w_scale);
}

// int32 accumulator -> int8: saturate(round_half_even((float)acc * M)) into [lo, hi].
inline int8_t requantize(int32_t acc, float multiplier, int32_t lo, int32_t hi) {
  return saturate(round_half_even(static_cast<float>(acc) * multiplier), lo, hi);
}

// The activation fused into an INT8 kernel's output. clip_min / clip_max are real units.
struct Activation {
  enum Kind { kNone, kRelu, kClip } kind = kNone;
  float clip_min = -std::numeric_limits<float>::infinity();
  float clip_max = std::numeric_limits<float>::infinity();

  // Bounds of the int8 output with scale y_scale: [-128, 127], [0, 127] for relu,
  // [round_half_even(clip_min / y_scale), round_half_even(clip_max / y_scale)]
  // (float division) for clip, each clamped into [-128, 127].
  int32_t int8_lo(float y_scale) const {
    if (kind == kRelu) return 0;
    if (kind == kClip) return to_int8_bound(clip_min / y_scale);
    return kMin;
  }
  int32_t int8_hi(float y_scale) const {
    return kind == kClip ? to_int8_bound(clip_max / y_scale) : kMax;
  }
  // Applied to a float output: max(0, y) for relu, min(max(y, clip_min), clip_max) for clip.
  float apply(float y) const {
    if (kind == kRelu) return y > 0.0f ? y : 0.0f;
    if (kind == kClip) {
      const float low = y > clip_min ? y : clip_min;
      return low < clip_max ? low : clip_max;
    }
    return y;
  }

 private:
  static int32_t to_int8_bound(float real_over_scale) {
    return saturate(round_half_even(real_over_scale), kMin, kMax);
  }
};

}  // namespace octet::int8
