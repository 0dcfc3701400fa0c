// The requantizing epilogues of octet's INT8 tensor-core kernels (int8_gemm.cu,
// int8_conv.cu) as CUTLASS 3 epilogue visitor trees, with the device facts both need.
// They reproduce requantize.h bit for bit: saturating int32 bias add, (float)acc
// rounded to nearest, one float multiply, round half to even, clamp.
#pragma once
#include <cute/tensor.hpp>
#include <cutlass/cutlass.h>
#include <cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/int8_gemm.h"
#include "kernels/cuda/int8_math.cuh"

namespace octet::cuda::tensor_core {

// TMA needs 16-byte aligned rows: 16 int8 elements of A and B, 16 bytes of D.
constexpr int kTmaAlignmentBytes = 16;

// ---------------------------------------------------------------------------
// The epilogue arithmetic (int8_math.cuh's), shared by the CUTLASS visitor nodes and the plain kernel.

// min(max((float)acc * scale, lo), hi). __fmul_rn: one rounded multiply. The float
// output, and the int8 output before its conversion rounds it (below).
__device__ __forceinline__ float scale_and_clamp(float acc, float scale, float lo, float hi) {
  return clamp_as_reference(__fmul_rn(acc, scale), lo, hi);
}

// Int8 output, still as a float holding an integer in [lo, hi]: rintf rounds half to even.
__device__ __forceinline__ float requantize_value(float acc, float scale, float lo, float hi) {
  return clamp_as_reference(rintf(__fmul_rn(acc, scale)), lo, hi);
}

// ---------------------------------------------------------------------------
// Epilogue visitor tree nodes. Sm90Compute converts each input fragment to its
// ElementCompute and calls ComputeFn<Array<ElementCompute, N>>; a ComputeFn with an
// `Arguments` member also receives those (the bounds).

struct Bounds {
  float lo, hi;
};

// out[i] = f(in[i]...) over same-sized fragments.
template <class Fragment, class F, class... In>
CUTLASS_DEVICE Fragment map_fragments(F f, In const&... in) {
  Fragment out;
  CUTLASS_PRAGMA_UNROLL
  for (int i = 0; i < Fragment::kElements; ++i) out[i] = f(in[i]...);
  return out;
}

template <class Fragment>
struct SaturatingAddBias {
  CUTLASS_DEVICE Fragment operator()(Fragment const& acc, Fragment const& bias) const {
    return map_fragments<Fragment>([](int32_t a, int32_t b) { return add_bias(a, b); }, acc, bias);
  }
};

// Float output, and int8 output: CUTLASS's float -> int8 conversion (cvt.rni: round
// half to even) then rounds the clamped value, which equals clamping the rounded one
// because lo and hi are integers; no value leaves [lo, hi] c [-128, 127].
template <class Fragment>
struct ScaleAndClamp {
  using Arguments = Bounds;
  CUTLASS_DEVICE Fragment operator()(Fragment const& acc, Fragment const& scale, Bounds const& b) const {
    return map_fragments<Fragment>([&](float a, float s) { return scale_and_clamp(a, s, b.lo, b.hi); }, acc, scale);
  }
};

// The rounded int8 value c, as a float: the residual sum's first operand.
template <class Fragment>
struct Requantize {
  using Arguments = Bounds;
  CUTLASS_DEVICE Fragment operator()(Fragment const& acc, Fragment const& scale, Bounds const& b) const {
    return map_fragments<Fragment>([&](float a, float s) { return requantize_value(a, s, b.lo, b.hi); }, acc, scale);
  }
};

// Int8 output with a residual: c (an integer-valued float) summed with the residual z
// and clamped into the output's integer bounds; the int8 conversion rounds, as above.
struct ResidualSum {
  float c_ratio, z_ratio, lo, hi;
};

template <class Fragment>
struct AddResidual {
  using Arguments = ResidualSum;
  CUTLASS_DEVICE Fragment operator()(Fragment const& c, Fragment const& z, ResidualSum const& r) const {
    return map_fragments<Fragment>(
        [&](float cv, float zv) { return clamp_as_reference(int8_sum(cv, zv, r.c_ratio, r.z_ratio), r.lo, r.hi); }, c,
        z);
  }
};

namespace fusion = cutlass::epilogue::fusion;
constexpr auto kRoundToNearest = cutlass::FloatRoundStyle::round_to_nearest;

// acc + bias[n] in int32 (a null bias reads as 0).
template <class TileShape>
using BiasedAccumulator =
    fusion::Sm90EVT<fusion::Sm90Compute<SaturatingAddBias, int32_t, int32_t, kRoundToNearest>, fusion::Sm90AccFetch,
                    fusion::Sm90RowBroadcast<0, TileShape, int32_t, int32_t>>;

// f((float)biased acc, scale[n], bounds); the int32 -> float conversion rounds to nearest.
template <template <class> class ScaleFn, class ElementOutput, class TileShape>
using ScaledAccumulator =
    fusion::Sm90EVT<fusion::Sm90Compute<ScaleFn, ElementOutput, float, kRoundToNearest>, BiasedAccumulator<TileShape>,
                    fusion::Sm90RowBroadcast<0, TileShape, float, float>>;

// Each epilogue: the visitor tree for a CTA tile shape, its arguments, and the
// element of the source operand C it reads (void: none).
struct RequantizeToInt8 {
  using ElementC = void;
  template <class TileShape>
  using Callbacks = ScaledAccumulator<ScaleAndClamp, int8_t, TileShape>;
  template <class TileShape>
  static typename Callbacks<TileShape>::Arguments arguments(const Int8Epilogue& e) {
    return {{{}, {e.bias}, {}}, {e.scale}, {e.lo, e.hi}};
  }
};

struct ScaleToFloat {
  using ElementC = void;
  template <class TileShape>
  using Callbacks = ScaledAccumulator<ScaleAndClamp, float, TileShape>;
  template <class TileShape>
  static typename Callbacks<TileShape>::Arguments arguments(const Int8Epilogue& e) {
    return {{{}, {e.bias}, {}}, {e.scale}, {e.lo, e.hi}};
  }
};

// The residual Z is the source operand C, fetched by the epilogue's TMA loads.
struct RequantizeAndAddResidual {
  using ElementC = int8_t;
  template <class TileShape>
  using Callbacks = fusion::Sm90EVT<fusion::Sm90Compute<AddResidual, int8_t, float, kRoundToNearest>,
                                    ScaledAccumulator<Requantize, float, TileShape>, fusion::Sm90SrcFetch<int8_t>>;
  template <class TileShape>
  static typename Callbacks<TileShape>::Arguments arguments(const Int8Epilogue& e) {
    const Int8Residual& r = e.residual;
    return {{{{}, {e.bias}, {}}, {e.scale}, {e.lo, e.hi}}, {}, {r.c_ratio, r.z_ratio, r.lo, r.hi}};
  }
};

struct RawAccumulator {
  using ElementC = void;
  template <class TileShape>
  using Callbacks = fusion::Sm90AccFetch;
  template <class TileShape>
  static typename Callbacks<TileShape>::Arguments arguments(const Int8Epilogue&) {
    return {};
  }
};

// ---------------------------------------------------------------------------
// Per-device facts, read once per device.

struct DeviceInfo {
  int device = 0;
  int sm_count = 0;
  bool is_sm90 = false;  // sm_90a code runs on compute capability 9.0 only
};

inline DeviceInfo current_device_info() {
  int device = 0;
  OCTET_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::map<int, DeviceInfo> infos;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = infos.find(device);
  if (it == infos.end()) {
    DeviceInfo info;
    info.device = device;
    int major = 0, minor = 0;
    OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&info.sm_count, cudaDevAttrMultiProcessorCount, device));
    OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    info.is_sm90 = major == 9 && minor == 0;
    it = infos.emplace(device, info).first;
  }
  return it->second;
}

inline void check_cutlass(cutlass::Status status, const char* what) {
  if (status != cutlass::Status::kSuccess)
    throw Error(std::string("INT8 tensor-core kernel: CUTLASS ") + what + " failed: " + cutlassGetStatusString(status));
}

}  // namespace octet::cuda::tensor_core
