// Device forms of the INT8 contract's arithmetic (docs/int8_kernels.md,
// src/kernels/reference/int8/requantize.h), bit for bit: every float product and
// sum is an explicitly rounded intrinsic, so the compiler cannot fuse them (FMA).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace octet::cuda {

// round_half_even: rintf rounds to nearest even, as std::nearbyint under FE_TONEAREST.
__device__ __forceinline__ float round_half_even(float v) { return rintf(v); }

// min(max(v, lo), hi) with the reference's NaN rule (requantize.h's saturate and
// Activation::apply give lo): fmaxf returns lo for a NaN v, and lo, hi are never NaN
// (validated bounds), so two min/max instructions reproduce it.
__device__ __forceinline__ float clamp_as_reference(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }

// requantize.h's add_bias: acc + bias saturated to the int32 range.
__device__ __forceinline__ int32_t add_bias(int32_t acc, int32_t bias) {
  int32_t sum;
  asm("add.sat.s32 %0, %1, %2;" : "=r"(sum) : "r"(acc), "r"(bias));
  return sum;
}

// requantize.h's saturate: clamps a rounded value into [lo, hi] (integers within
// [-128, 127]) and converts it.
__device__ __forceinline__ int8_t saturate_int8(float rounded, float lo, float hi) {
  return static_cast<int8_t>(clamp_as_reference(rounded, lo, hi));
}

// (float)q * scale, one rounded float product: for int8 q exactly requantize.h's
// scaled(), for an accumulator the product requantize() rounds.
__device__ __forceinline__ float float_product(int32_t q, float scale) { return __fmul_rn(__int2float_rn(q), scale); }

// Int8Add's real sum of two int8 values (exact as floats): fl(a * ra) + fl(b * rb),
// each product and the sum rounded once.
__device__ __forceinline__ float int8_sum(float a, float b, float ra, float rb) {
  return __fadd_rn(__fmul_rn(a, ra), __fmul_rn(b, rb));
}

// A real value to an output: int8 gets saturate(round_half_even(v)) into [lo, hi]
// (integers); float gets the clamp into [lo, hi] (real units, +-inf for none).
template <class Out>
__device__ __forceinline__ Out finish_output(float v, float lo, float hi);

template <>
__device__ __forceinline__ int8_t finish_output<int8_t>(float v, float lo, float hi) {
  return saturate_int8(round_half_even(v), lo, hi);
}

template <>
__device__ __forceinline__ float finish_output<float>(float v, float lo, float hi) {
  return clamp_as_reference(v, lo, hi);
}

// Int8Epilogue (int8_gemm.h) of an accumulator that already includes the bias:
// finish_output((float)acc * scale).
template <class Out>
__device__ __forceinline__ Out apply_epilogue(int32_t acc, float scale, float lo, float hi) {
  return finish_output<Out>(float_product(acc, scale), lo, hi);
}

// Rounding without the conversion units (half the FP32 units' rate on sm_90, by the
// CUDA programming guide's throughput table): adding 1.5 * 2^23 to a float within
// [-2^22, 2^22] rounds it to an integer, half to even as every rounded add does, and
// leaves that integer in the low bits of the sum's representation (two's complement). The kernels that are bound by their epilogue
// requantize this way (int8_conv_few_channels.cu, int8_gemm_shallow.cu).
constexpr float kRoundingBias = 12582912.0f;

// requantize.h's requantize() of an accumulator that already includes the bias, plus
// kRoundingBias: saturate(round_half_even((float)acc * scale)) into [lo, hi] (integers
// within [-128, 127]) is the low byte of its representation. Clamping before rounding
// equals rounding first, as the bounds are integers.
__device__ __forceinline__ float requantize_biased(int32_t acc, float scale, float lo, float hi) {
  return __fadd_rn(clamp_as_reference(float_product(acc, scale), lo, hi), kRoundingBias);
}

// The int8 values of two biased floats as one 16-bit pair (a first).
__device__ __forceinline__ uint16_t pack_biased_pair(float a, float b) {
  return static_cast<uint16_t>(__byte_perm(__float_as_uint(a), __float_as_uint(b), 0x0040));
}

}  // namespace octet::cuda
