// The CUDA backend's elementwise, data-movement, pooling and direct-convolution
// kernels (cuda_ops.h). Memory-bound kernels move packs of up to 16 bytes per
// thread where the shape and the pointers' alignment allow; kernels that split a
// flat index into coordinates use 32-bit arithmetic when every offset fits, since
// 64-bit division is slow on the GPU.
#include "kernels/cuda/cuda_ops.h"

#include <algorithm>
#include <cstring>
#include <cuda/std/limits>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/int8_math.cuh"
#include "octet/error.h"

namespace octet::cuda {
namespace {

// ---------------------------------------------------------------------------
// Launch shape and index types

constexpr int kThreads = 256;
// Grid-stride loops cover any size; this many blocks fill an H200 many times over.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;
// With every count at most 2^30, an int32 grid-stride step (at most 2^24) cannot overflow.
constexpr int64_t kInt32IndexLimit = int64_t{1} << 30;

int blocks_for(int64_t work_items) {
  return static_cast<int>(std::clamp<int64_t>((work_items + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// Calls launch(Index{}) with Index = int32_t when every count (elements, offsets,
// work items) is at most 2^30, else int64_t.
template <class Launch>
void with_index_type(std::initializer_list<int64_t> counts, Launch&& launch) {
  const bool small = std::all_of(counts.begin(), counts.end(), [](int64_t c) { return c <= kInt32IndexLimit; });
  if (small)
    launch(int32_t{});
  else
    launch(int64_t{});
}

template <class Index>
__device__ __forceinline__ Index first_thread() {
  return static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
}
template <class Index>
__device__ __forceinline__ Index thread_stride() {
  return static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
}

// Float and half values in float arithmetic (the FP16 engines' kernels compute in
// float and round once, to nearest even, when they store).
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

template <class T>
__device__ __forceinline__ T lowest_value() { return ::cuda::std::numeric_limits<T>::lowest(); }
template <>
__device__ __forceinline__ __half lowest_value<__half>() { return __ushort_as_half(0xFBFFu); }  // -65504

// ---------------------------------------------------------------------------
// Packs: V consecutive elements moved as one (vector) load or store

constexpr size_t pack_alignment(size_t bytes) { return bytes < 16 ? bytes : 16; }

template <class T, int V>
struct alignas(pack_alignment(sizeof(T) * V)) Pack {
  T lane[V];
};

template <int V, class T>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}
template <int V, class T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}

// Whether p is aligned for a Pack of `lanes` elements.
template <class T>
bool aligned_for(const T* p, int lanes) {
  return reinterpret_cast<uintptr_t>(p) % pack_alignment(sizeof(T) * lanes) == 0;
}

// Calls launch(std::integral_constant<int, V>{}) with the widest V of 16, 4 and 1
// lanes for which fits(V) holds (1 always does).
template <class Fits, class Launch>
void with_pack_width(Fits&& fits, Launch&& launch) {
  if (fits(16))
    launch(std::integral_constant<int, 16>{});
  else if (fits(4))
    launch(std::integral_constant<int, 4>{});
  else
    launch(std::integral_constant<int, 1>{});
}

// ---------------------------------------------------------------------------
// Elementwise: quantize, dequantize, Int8Add

template <class F, class Out, int V, class... In>
__device__ __forceinline__ void apply_lanes(const F& f, Pack<Out, V>& out, const Pack<In, V>&... in) {
#pragma unroll
  for (int k = 0; k < V; ++k) out.lane[k] = f(in.lane[k]...);
}

// y[i] = f(x[i]...) over n elements: whole packs of V, then the tail one by one.
template <int V, class F, class Out, class... In>
__global__ void elementwise_kernel(F f, int64_t n, Out* y, const In*... x) {
  const int64_t packs = n / V;
  const int64_t first = first_thread<int64_t>(), stride = thread_stride<int64_t>();
  for (int64_t p = first; p < packs; p += stride) {
    Pack<Out, V> out;
    apply_lanes(f, out, load_pack<V>(x + p * V)...);
    store_pack(y + p * V, out);
  }
  for (int64_t i = packs * V + first; i < n; i += stride) y[i] = f(x[i]...);
}

template <class F, class Out, class... In>
void launch_elementwise(const F& f, int64_t n, cudaStream_t stream, Out* y, const In*... x) {
  if (n == 0) return;
  with_pack_width([&](int lanes) { return aligned_for(y, lanes) && (aligned_for(x, lanes) && ...); },
                  [&](auto width) {
                    constexpr int V = decltype(width)::value;
                    elementwise_kernel<V><<<blocks_for(n / V), kThreads, 0, stream>>>(f, n, y, x...);
                    OCTET_CUDA_CHECK_LAUNCH();
                  });
}

struct Quantize {
  float scale;
  __device__ int8_t operator()(float x) const { return finish_output<int8_t>(__fdiv_rn(x, scale), -128.0f, 127.0f); }
};

struct Dequantize {
  float scale;
  __device__ float operator()(int8_t q) const { return float_product(q, scale); }
};

// fl(a * ra) + fl(b * rb), one float add, then the output's rounding and clamp.
template <class Out>
struct Int8Add {
  float ra, rb, lo, hi;
  __device__ Out operator()(int8_t a, int8_t b) const {
    return finish_output<Out>(int8_sum(static_cast<float>(a), static_cast<float>(b), ra, rb), lo, hi);
  }
};

// ---------------------------------------------------------------------------
// Transpose

constexpr int kTile = 32, kTileRowsPerPass = 8;

// A batch of [rows, cols] -> [cols, rows] transposes through a shared tile, so that
// both the reads and the writes run along contiguous memory.
template <class T, class Index>
__global__ void batched_transpose_kernel(const T* x, T* y, Index batch, Index rows, Index cols) {
  __shared__ T tile[kTile][kTile + 1];  // +1: reading a column does not hit one bank
  const Index row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const Index tiles_per_matrix = row_tiles * col_tiles;
  for (Index t = blockIdx.x; t < batch * tiles_per_matrix; t += static_cast<Index>(gridDim.x)) {
    const Index b = t / tiles_per_matrix, in_matrix = t % tiles_per_matrix;
    const Index row0 = in_matrix / col_tiles * kTile, col0 = in_matrix % col_tiles * kTile;
    const T* xb = x + b * rows * cols;
    T* yb = y + b * rows * cols;
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int i = ty; i < kTile; i += kTileRowsPerPass) {
      const Index r = row0 + i, c = col0 + tx;
      if (r < rows && c < cols) tile[i][tx] = xb[r * cols + c];
    }
    __syncthreads();
    for (int i = ty; i < kTile; i += kTileRowsPerPass) {
      const Index c = col0 + i, r = row0 + tx;
      if (c < cols && r < rows) yb[c * rows + r] = tile[tx][i];
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
}

// A batch of [Rows, cols] -> [cols, Rows] transposes with few rows (an image's channels
// to channels-last): one thread per column reads Rows planes, writes Rows adjacent elements.
template <class T, int Rows, class Index>
__global__ void few_rows_transpose_kernel(const T* x, T* y, Index batch, Index cols) {
  for (Index i = first_thread<Index>(); i < batch * cols; i += thread_stride<Index>()) {
    const T* column = x + i / cols * Rows * cols + i % cols;
#pragma unroll
    for (int r = 0; r < Rows; ++r) y[i * Rows + r] = column[r * cols];
  }
}

template <class T, int Rows>
void launch_few_rows_transpose(const T* x, T* y, int64_t batch, int64_t cols, cudaStream_t stream) {
  with_index_type({batch * Rows * cols}, [&](auto index) {
    using Index = decltype(index);
    few_rows_transpose_kernel<T, Rows, Index>
        <<<blocks_for(batch * cols), kThreads, 0, stream>>>(x, y, static_cast<Index>(batch), static_cast<Index>(cols));
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

struct Dims4 {
  int64_t d[4];
};

// Any 4-D permutation, one thread per output element: writes are coalesced, reads
// follow the input strides of the output's axes.
template <class T, class Index>
__global__ void transpose4d_kernel(const T* x, T* y, Dims4 out_dims, Dims4 in_strides, Index total) {
  for (Index i = first_thread<Index>(); i < total; i += thread_stride<Index>()) {
    Index rest = i, offset = 0;
#pragma unroll
    for (int axis = 3; axis >= 0; --axis) {
      const Index dim = static_cast<Index>(out_dims.d[axis]);
      offset += rest % dim * static_cast<Index>(in_strides.d[axis]);
      rest /= dim;
    }
    y[i] = x[offset];
  }
}

// Whether perm keeps axes [0, p) and moves the block of axes [q, 4) in front of
// [p, q): then the copy is a batch of [rows, cols] -> [cols, rows] transposes.
bool as_batched_transpose(const int64_t in_dims[4], const int perm[4], int64_t& batch, int64_t& rows, int64_t& cols) {
  int p = 0;
  while (p < 4 && perm[p] == p) ++p;
  if (p == 4) return false;
  const int q = perm[p];
  for (int i = p; i < 4; ++i) {
    const int moved = i - p;  // position within the permuted tail
    const int expected = moved < 4 - q ? q + moved : p + moved - (4 - q);
    if (perm[i] != expected) return false;
  }
  batch = rows = cols = 1;
  for (int a = 0; a < 4; ++a) (a < p ? batch : a < q ? rows : cols) *= in_dims[a];
  return true;
}

template <class T>
void transpose_elements(const T* x, T* y, const int64_t in_dims[4], const int perm[4], int64_t total,
                        cudaStream_t stream) {
  int64_t batch = 0, rows = 0, cols = 0;
  const bool batched = as_batched_transpose(in_dims, perm, batch, rows, cols);
  // Tiles pay off when both sides are wide; 2 to 4 rows (an image's channels) take
  // the few-rows kernel, other narrow shapes the plain one.
  if (batched && rows >= kTile && cols >= kTile) {
    const int64_t tiles = batch * ((rows + kTile - 1) / kTile) * ((cols + kTile - 1) / kTile);
    with_index_type({total, tiles}, [&](auto index) {
      using Index = decltype(index);
      batched_transpose_kernel<T, Index>
          <<<static_cast<int>(std::min(tiles, kMaxBlocks)), dim3(kTile, kTileRowsPerPass), 0, stream>>>(
              x, y, batch, rows, cols);
      OCTET_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  if (batched && rows >= 2 && rows <= 4) {
    if (rows == 2) return launch_few_rows_transpose<T, 2>(x, y, batch, cols, stream);
    if (rows == 3) return launch_few_rows_transpose<T, 3>(x, y, batch, cols, stream);
    return launch_few_rows_transpose<T, 4>(x, y, batch, cols, stream);
  }
  Dims4 out_dims{}, in_strides{};
  int64_t stride[4];
  stride[3] = 1;
  for (int a = 2; a >= 0; --a) stride[a] = stride[a + 1] * in_dims[a + 1];
  for (int a = 0; a < 4; ++a) {
    out_dims.d[a] = in_dims[perm[a]];
    in_strides.d[a] = stride[perm[a]];
  }
  with_index_type({total}, [&](auto index) {
    using Index = decltype(index);
    transpose4d_kernel<T, Index><<<blocks_for(total), kThreads, 0, stream>>>(x, y, out_dims, in_strides, total);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

// ---------------------------------------------------------------------------
// Sliding windows (pools, convolution)

// Visits the taps of output position (oh, ow)'s window that lie inside the input,
// in row-major tap order (the reference's order), as visit(ih, iw, tap). A nonzero
// Extent is the window's height and width known at compile time (the loops unroll,
// so the taps' loads are all in flight at once).
template <int Extent = 0, class Index, class Geometry, class Visit>
__device__ __forceinline__ void for_each_window_tap(const Geometry& g, Index oh, Index ow, Visit&& visit) {
  const int kh = Extent ? Extent : g.kh, kw = Extent ? Extent : g.kw;
#pragma unroll
  for (int r = 0; r < kh; ++r) {
    const Index ih = oh * g.stride_h - g.pad_t + r * g.dil_h;
    if (ih < 0 || ih >= g.h) continue;
#pragma unroll
    for (int s = 0; s < kw; ++s) {
      const Index iw = ow * g.stride_w - g.pad_l + s * g.dil_w;
      if (iw >= 0 && iw < g.w) visit(ih, iw, r * kw + s);
    }
  }
}

// How many of a window's taps along one dim land in [lo, hi): one factor of the
// reference's AveragePool divisor.
template <class Index>
__device__ __forceinline__ int taps_within(Index o, int stride, int pad, int dilation, int kernel, Index lo, Index hi) {
  int inside = 0;
  for (int k = 0; k < kernel; ++k) {
    const Index coord = o * stride - pad + k * dilation;
    inside += coord >= lo && coord < hi;
  }
  return inside;
}

// Output pixel (n, oh, ow) of a flat pixel index over [N, OH, OW].
template <class Index>
struct Pixel {
  Index n, oh, ow;
};
template <class Index>
__device__ __forceinline__ Pixel<Index> split_pixel(Index pixel, Index oh, Index ow) {
  return {pixel / ow / oh, pixel / ow % oh, pixel % ow};
}

// prmt with a selector: bytes of (lo, hi), a selector nibble's bit 3 replicating the
// selected byte's sign (which __byte_perm does not offer).
__device__ __forceinline__ unsigned permute_bytes(unsigned lo, unsigned hi, unsigned selector) {
  unsigned out;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(out) : "r"(lo), "r"(hi), "r"(selector));
  return out;
}

// sm_90's packed signed 16-bit maximum.
__device__ __forceinline__ unsigned max_s16x2(unsigned a, unsigned b) {
  unsigned out;
  asm("max.s16x2 %0, %1, %2;" : "=r"(out) : "r"(a), "r"(b));
  return out;
}

// Per-byte signed maximum of four int8 lanes: sign-extended to two s16x2 words each
// for the packed 16-bit max (__vmaxs4 is emulated with a dozen instructions).
__device__ __forceinline__ unsigned max_s8x4(unsigned a, unsigned b) {
  constexpr unsigned kLowPair = 0x9180, kHighPair = 0xB3A2;  // bytes 0, 1 / 2, 3 as sign-extended halves
  const unsigned lo = max_s16x2(permute_bytes(a, 0, kLowPair), permute_bytes(b, 0, kLowPair));
  const unsigned hi = max_s16x2(permute_bytes(a, 0, kHighPair), permute_bytes(b, 0, kHighPair));
  return permute_bytes(lo, hi, 0x6420);  // the halves' low bytes, back in order
}

// The reference MaxPool keeps a window's first valid tap and replaces it only by a
// strictly greater value, so NaN and -inf come out as on the CPU.
template <class T, int V>
__device__ __forceinline__ void keep_greater(Pack<T, V>& best, const Pack<T, V>& candidate) {
#pragma unroll
  for (int k = 0; k < V; ++k)
    if (candidate.lane[k] > best.lane[k]) best.lane[k] = candidate.lane[k];
}

// One thread per V channels of an output pixel; Extent as for_each_window_tap's.
// int8 has no NaN, so there the rule is the plain maximum, in any order, from the
// lowest value: taken four bytes at a time where V allows.
template <class T, int V, class Index, int Extent>
__global__ void max_pool_kernel(const T* x, T* y, Pool2d p, Index total_packs) {
  constexpr bool kInt8Words = std::is_same_v<T, int8_t> && V % 4 == 0;
  using Lane = std::conditional_t<kInt8Words, unsigned, T>;
  constexpr int kLanes = kInt8Words ? V / 4 : V;
  const Index h = p.h, w = p.w, c = p.c, packs_per_pixel = c / V;
  for (Index i = first_thread<Index>(); i < total_packs; i += thread_stride<Index>()) {
    const Index channel = i % packs_per_pixel * V;
    const Pixel<Index> o = split_pixel<Index>(i / packs_per_pixel, p.oh, p.ow);
    // A window over padding only keeps the lowest value, as the reference does.
    Pack<Lane, kLanes> best;
#pragma unroll
    for (int k = 0; k < kLanes; ++k) {
      if constexpr (kInt8Words)
        best.lane[k] = 0x80808080u;  // -128 in each byte
      else
        best.lane[k] = lowest_value<T>();
    }
    bool first = true;
    for_each_window_tap<Extent>(p, o.oh, o.ow, [&](Index ih, Index iw, int) {
      const auto v = load_pack<kLanes>(reinterpret_cast<const Lane*>(x + ((o.n * h + ih) * w + iw) * c + channel));
      if constexpr (kInt8Words) {
#pragma unroll
        for (int k = 0; k < kLanes; ++k) best.lane[k] = max_s8x4(best.lane[k], v.lane[k]);
      } else {
        if (first)
          best = v;
        else
          keep_greater(best, v);
        first = false;
      }
    });
    store_pack(reinterpret_cast<Lane*>(y + i * V), best);
  }
}

// The reference's order: a zero-started float sum over the window's valid taps in
// tap order, then one division by the divisor.
template <int V, class Index>
__global__ void avg_pool_kernel(const float* x, float* y, Pool2d p, bool count_include_pad, Index total_packs) {
  const Index h = p.h, w = p.w, c = p.c, packs_per_pixel = c / V;
  const Index lo_h = count_include_pad ? -p.pad_t : 0, hi_h = h + (count_include_pad ? p.pad_b : 0);
  const Index lo_w = count_include_pad ? -p.pad_l : 0, hi_w = w + (count_include_pad ? p.pad_r : 0);
  for (Index i = first_thread<Index>(); i < total_packs; i += thread_stride<Index>()) {
    const Index channel = i % packs_per_pixel * V;
    const Pixel<Index> o = split_pixel<Index>(i / packs_per_pixel, p.oh, p.ow);
    Pack<float, V> sum{};
    for_each_window_tap(p, o.oh, o.ow, [&](Index ih, Index iw, int) {
      const Pack<float, V> v = load_pack<V>(x + ((o.n * h + ih) * w + iw) * c + channel);
#pragma unroll
      for (int k = 0; k < V; ++k) sum.lane[k] = __fadd_rn(sum.lane[k], v.lane[k]);
    });
    const float divisor = __int2float_rn(taps_within(o.oh, p.stride_h, p.pad_t, p.dil_h, p.kh, lo_h, hi_h) *
                                         taps_within(o.ow, p.stride_w, p.pad_l, p.dil_w, p.kw, lo_w, hi_w));
#pragma unroll
    for (int k = 0; k < V; ++k) sum.lane[k] = __fdiv_rn(sum.lane[k], divisor);
    store_pack(y + i * V, sum);
  }
}

// V lanes fit a channels-last pool when they divide C and both tensors are aligned for them.
template <class T>
auto channel_packs_fit(int64_t channels, const T* x, const T* y) {
  return [=](int lanes) { return channels % lanes == 0 && aligned_for(x, lanes) && aligned_for(y, lanes); };
}

template <class T>
void launch_max_pool(const T* x, T* y, const Pool2d& p, cudaStream_t stream) {
  if (p.n * p.oh * p.ow * p.c == 0) return;
  with_pack_width(channel_packs_fit(p.c, x, y), [&](auto width) {
    constexpr int V = decltype(width)::value;
    const int64_t total_packs = p.n * p.oh * p.ow * (p.c / V);
    with_index_type({p.n * p.h * p.w * p.c, p.n * p.oh * p.ow * p.c}, [&](auto index) {
      using Index = decltype(index);
      // 3x3 windows (ResNet's) with their loops unrolled.
      if (p.kh == 3 && p.kw == 3)
        max_pool_kernel<T, V, Index, 3><<<blocks_for(total_packs), kThreads, 0, stream>>>(x, y, p, total_packs);
      else
        max_pool_kernel<T, V, Index, 0><<<blocks_for(total_packs), kThreads, 0, stream>>>(x, y, p, total_packs);
      OCTET_CUDA_CHECK_LAUNCH();
    });
  });
}

// One thread per (n, c) of [N, HW, C]: threads of a warp read consecutive channels.
// The float sum runs in HW order from zero, then one division, as the reference's
// std::accumulate.
template <class T, class Index>
__global__ void global_avg_pool_kernel(const T* x, T* y, Index n, Index hw, Index c) {
  const float count = static_cast<float>(hw);
  for (Index i = first_thread<Index>(); i < n * c; i += thread_stride<Index>()) {
    const T* column = x + i / c * hw * c + i % c;
    float sum = 0.0f;
    for (Index j = 0; j < hw; ++j) sum = __fadd_rn(sum, to_float(column[j * c]));
    y[i] = from_float<T>(__fdiv_rn(sum, count));
  }
}

template <class T>
void launch_global_avg_pool(const T* x, T* y, int64_t n, int64_t hw, int64_t c, cudaStream_t stream) {
  if (n * c == 0) return;
  with_index_type({n * hw * c}, [&](auto index) {
    using Index = decltype(index);
    global_avg_pool_kernel<T, Index><<<blocks_for(n * c), kThreads, 0, stream>>>(x, y, n, hw, c);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

// ---------------------------------------------------------------------------
// Convolution

// acc + the dot product of V int8 lanes (dp4a for 4: exact, since sums cannot overflow).
template <int V>
__device__ __forceinline__ int32_t dot_accumulate(const int8_t* x, const int8_t* w, int32_t acc) {
  if constexpr (V == 4) {
    return __dp4a(*reinterpret_cast<const int*>(x), *reinterpret_cast<const int*>(w), acc);
  } else {
    static_assert(V == 1, "lanes are 1 or 4");
    return acc + static_cast<int32_t>(*x) * static_cast<int32_t>(*w);
  }
}

// Direct convolution, one thread per output element, the output channel fastest: a
// depthwise layer's threads read consecutive input channels and write consecutive
// outputs. For output i (channel m), acc = dot(x_tap, w_tap, channels, acc) over its
// window's valid taps from `zero`, then store(i, m, acc).
template <class T, class Index, class Acc, class Dot, class Store>
__device__ __forceinline__ void direct_conv(const T* x, const T* w, const Conv2d& g, Index total, Acc zero, Dot dot,
                                            Store store) {
  const Index h = g.h, w_in = g.w, c = g.c, m_count = g.m;
  const int channels_per_group = static_cast<int>(g.c / g.group);
  const int outputs_per_group = static_cast<int>(g.m / g.group);
  const int filter_size = g.kh * g.kw * channels_per_group;
  for (Index i = first_thread<Index>(); i < total; i += thread_stride<Index>()) {
    const int m = static_cast<int>(i % m_count);
    const Pixel<Index> o = split_pixel<Index>(i / m_count, g.oh, g.ow);
    const T* x_group = x + static_cast<Index>(m / outputs_per_group) * channels_per_group;
    const T* filter = w + static_cast<Index>(m) * filter_size;
    Acc acc = zero;
    for_each_window_tap(g, o.oh, o.ow, [&](Index ih, Index iw, int tap) {
      acc = dot(x_group + ((o.n * h + ih) * w_in + iw) * c, filter + tap * channels_per_group, channels_per_group, acc);
    });
    store(i, m, acc);
  }
}

template <class Out, int V, class Index>
__global__ void int8_conv_direct_kernel(const int8_t* x, const int8_t* w, Out* y, Conv2d g, const int32_t* bias,
                                        const float* scale, float lo, float hi, Index total) {
  direct_conv(
      x, w, g, total, int32_t{0},
      [](const int8_t* xp, const int8_t* wp, int channels, int32_t acc) {
        for (int c = 0; c < channels; c += V) acc = dot_accumulate<V>(xp + c, wp + c, acc);
        return acc;
      },
      [&](Index i, int m, int32_t acc) {
        y[i] = apply_epilogue<Out>(add_bias(acc, bias ? bias[m] : 0), scale[m], lo, hi);
      });
}

template <class Out>
void launch_int8_conv_direct(const int8_t* x, const int8_t* w, Out* y, const Conv2d& g, const int32_t* bias,
                             const float* scale, float lo, float hi, cudaStream_t stream) {
  if (g.group < 1 || g.c % g.group != 0 || g.m % g.group != 0)
    throw Error("int8_conv_direct: group " + std::to_string(g.group) + " does not divide C " + std::to_string(g.c) +
                " and M " + std::to_string(g.m));
  const int64_t total = g.n * g.oh * g.ow * g.m;
  if (total == 0) return;
  const int64_t channels_per_group = g.c / g.group;
  // dp4a reads four channels at once: every tap's channels start 4-byte aligned.
  const bool four_lanes = channels_per_group % 4 == 0 && aligned_for(x, 4) && aligned_for(w, 4);
  const auto launch = [&](auto width) {
    constexpr int V = decltype(width)::value;
    with_index_type({g.n * g.h * g.w * g.c, total, g.m * g.kh * g.kw * channels_per_group}, [&](auto index) {
      using Index = decltype(index);
      int8_conv_direct_kernel<Out, V, Index>
          <<<blocks_for(total), kThreads, 0, stream>>>(x, w, y, g, bias, scale, lo, hi, total);
      OCTET_CUDA_CHECK_LAUNCH();
    });
  };
  if (four_lanes)
    launch(std::integral_constant<int, 4>{});
  else
    launch(std::integral_constant<int, 1>{});
}

// One thread per G consecutive columns of a cols row, read from the input in packs of
// V channels (V divides C and G): (n, oh, ow) from the row, the first column's
// (kh, kw, c) by division, the next ones by stepping. Zeros for padding taps and for
// the columns past KH*KW*C.
template <int V, int G, class Index>
__global__ void im2col_kernel(const int8_t* x, int8_t* cols, Conv2d g, Index k_padded, Index total_groups) {
  const Index h = g.h, w = g.w, c = g.c, groups_per_row = k_padded / G;
  for (Index i = first_thread<Index>(); i < total_groups; i += thread_stride<Index>()) {
    const Index k = i % groups_per_row * G;
    const Index tap = k / c;
    Index channel = k % c;
    int r = static_cast<int>(tap / g.kw), s = static_cast<int>(tap % g.kw);
    const Pixel<Index> o = split_pixel<Index>(i / groups_per_row, g.oh, g.ow);
    Pack<int8_t, G> out{};
#pragma unroll
    for (int j = 0; j < G; j += V) {
      const Index ih = o.oh * g.stride_h - g.pad_t + r * g.dil_h;
      const Index iw = o.ow * g.stride_w - g.pad_l + s * g.dil_w;
      // r reaches KH past the last tap: the padding columns.
      if (r < g.kh && ih >= 0 && ih < h && iw >= 0 && iw < w) {
        const Pack<int8_t, V> v = load_pack<V>(x + ((o.n * h + ih) * w + iw) * c + channel);
#pragma unroll
        for (int l = 0; l < V; ++l) out.lane[j + l] = v.lane[l];
      }
      channel += V;
      if (channel == c) {
        channel = 0;
        if (++s == g.kw) s = 0, ++r;
      }
    }
    store_pack(cols + i * G, out);
  }
}

// im2col for few channels (C < 16: an image's stem), where im2col_kernel would read
// bytes one by one: a block builds the rows of kIm2colPixels output pixels in shared
// memory, one thread per (pixel, kernel row) copying that row's KW taps of C values,
// then writes them out as 16-byte packs along the contiguous rows.
constexpr int kIm2colPixels = 32;

template <class Index>
__global__ void im2col_few_channels_kernel(const int8_t* x, int8_t* cols, Conv2d g, int k_padded, Index pixels) {
  extern __shared__ __align__(16) int8_t rows[];  // [kIm2colPixels, k_padded]
  const int c = static_cast<int>(g.c), tap_row = g.kw * c, depth = g.kh * tap_row;
  const Index h = g.h, w = g.w;
  for (Index p0 = static_cast<Index>(blockIdx.x) * kIm2colPixels; p0 < pixels;
       p0 += static_cast<Index>(gridDim.x) * kIm2colPixels) {
    const int count = static_cast<int>(pixels - p0 < kIm2colPixels ? pixels - p0 : kIm2colPixels);
    for (int t = threadIdx.x; t < count * g.kh; t += blockDim.x) {
      const int pixel = t / g.kh, r = t % g.kh;
      const Pixel<Index> o = split_pixel<Index>(p0 + pixel, g.oh, g.ow);
      const Index ih = o.oh * g.stride_h - g.pad_t + r * g.dil_h;
      int8_t* out = rows + pixel * k_padded + r * tap_row;
      for (int s = 0; s < g.kw; ++s) {
        const Index iw = o.ow * g.stride_w - g.pad_l + s * g.dil_w;
        const bool inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
        const int8_t* tap = inside ? x + ((o.n * h + ih) * w + iw) * c : nullptr;
        for (int k = 0; k < c; ++k) out[s * c + k] = inside ? tap[k] : int8_t{0};
      }
    }
    for (int t = threadIdx.x; t < count * (k_padded - depth); t += blockDim.x)
      rows[t / (k_padded - depth) * k_padded + depth + t % (k_padded - depth)] = 0;
    __syncthreads();
    int8_t* dst = cols + p0 * k_padded;
    for (int b = threadIdx.x * 16; b < count * k_padded; b += blockDim.x * 16)
      store_pack(dst + b, *reinterpret_cast<const Pack<int8_t, 16>*>(rows + b));
    __syncthreads();  // the rows are rebuilt by the next iteration
  }
}

template <int V, int G>
void launch_im2col(const int8_t* x, int8_t* cols, const Conv2d& g, int64_t k_padded, cudaStream_t stream) {
  const int64_t rows = g.n * g.oh * g.ow, total_groups = rows * (k_padded / G);
  with_index_type({g.n * g.h * g.w * g.c, rows * k_padded}, [&](auto index) {
    using Index = decltype(index);
    im2col_kernel<V, G, Index><<<blocks_for(total_groups), kThreads, 0, stream>>>(x, cols, g, k_padded, total_groups);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

// ---------------------------------------------------------------------------
// Float layers (FP32 and FP16 engines)

// octet.FusedConv's activation (kernels/fused_activation.h), NaN-propagating as the reference activations (std::max(NaN, 0) is NaN): comparisons, not fmaxf.
__device__ __forceinline__ float activate(float v, const FusedActivation& a) {
  switch (a.kind) {
    case FusedActivation::kNone: return v;
    case FusedActivation::kRelu: return v < 0.0f ? 0.0f : v;
    case FusedActivation::kClip: {
      const float low = v < a.lo ? a.lo : v;
      return a.hi < low ? a.hi : low;
    }
    case FusedActivation::kLeakyRelu: return v < 0.0f ? __fmul_rn(a.alpha, v) : v;
    case FusedActivation::kSigmoid: return 1.0f / (1.0f + expf(-v));
    case FusedActivation::kHardSwish: {
      const float t = __fadd_rn(__fmul_rn(v, 1.0f / 6.0f), 0.5f);
      return __fmul_rn(v, t < 0.0f ? 0.0f : (1.0f < t ? 1.0f : t));
    }
  }
  return v;
}

template <class T, class Index>
__global__ void float_epilogue_kernel(const T* x, const T* bias, const T* z, T* y, Index total, Index cols,
                                      FusedActivation act) {
  for (Index i = first_thread<Index>(); i < total; i += thread_stride<Index>()) {
    float v = to_float(x[i]);
    if (bias) v = __fadd_rn(v, to_float(bias[i % cols]));
    if (z) v = __fadd_rn(v, to_float(z[i]));
    y[i] = from_float<T>(activate(v, act));
  }
}

template <class T>
void launch_float_epilogue(const T* x, const T* bias, const T* z, T* y, int64_t rows, int64_t cols,
                           const FusedActivation& act, cudaStream_t stream) {
  const int64_t total = rows * cols;
  if (total == 0) return;
  with_index_type({total}, [&](auto index) {
    using Index = decltype(index);
    float_epilogue_kernel<T, Index><<<blocks_for(total), kThreads, 0, stream>>>(x, bias, z, y, total, cols, act);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

template <class To>
struct ConvertTo {
  template <class From>
  __device__ To operator()(From v) const { return from_float<To>(to_float(v)); }
};

// direct_conv with a float accumulator.
template <class T, class Index>
__global__ void float_conv_direct_kernel(const T* x, const T* w, T* y, Conv2d g, Index total) {
  direct_conv(
      x, w, g, total, 0.0f,
      [](const T* xp, const T* wp, int channels, float acc) {
        for (int k = 0; k < channels; ++k) acc = __fmaf_rn(to_float(xp[k]), to_float(wp[k]), acc);
        return acc;
      },
      [&](Index i, int, float acc) { y[i] = from_float<T>(acc); });
}

template <class T>
void launch_float_conv_direct(const T* x, const T* w, T* y, const Conv2d& g, cudaStream_t stream) {
  if (g.group < 1 || g.c % g.group != 0 || g.m % g.group != 0)
    throw Error("float_conv_direct: group " + std::to_string(g.group) + " does not divide C " + std::to_string(g.c) +
                " and M " + std::to_string(g.m));
  const int64_t total = g.n * g.oh * g.ow * g.m;
  if (total == 0) return;
  with_index_type({g.n * g.h * g.w * g.c, total, g.m * g.kh * g.kw * (g.c / g.group)}, [&](auto index) {
    using Index = decltype(index);
    float_conv_direct_kernel<T, Index><<<blocks_for(total), kThreads, 0, stream>>>(x, w, y, g, total);
    OCTET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void float_epilogue(const float* x, const float* bias, const float* z, float* y, int64_t rows, int64_t cols,
                    const FusedActivation& act, cudaStream_t stream) {
  launch_float_epilogue(x, bias, z, y, rows, cols, act, stream);
}

void float_epilogue(const __half* x, const __half* bias, const __half* z, __half* y, int64_t rows, int64_t cols,
                    const FusedActivation& act, cudaStream_t stream) {
  launch_float_epilogue(x, bias, z, y, rows, cols, act, stream);
}

void convert(const float* x, __half* y, int64_t n, cudaStream_t stream) {
  launch_elementwise(ConvertTo<__half>{}, n, stream, y, x);
}

void convert(const __half* x, float* y, int64_t n, cudaStream_t stream) {
  launch_elementwise(ConvertTo<float>{}, n, stream, y, x);
}

void float_conv_direct(const float* x, const float* w, float* y, const Conv2d& g, cudaStream_t stream) {
  launch_float_conv_direct(x, w, y, g, stream);
}

void float_conv_direct(const __half* x, const __half* w, __half* y, const Conv2d& g, cudaStream_t stream) {
  launch_float_conv_direct(x, w, y, g, stream);
}

void max_pool_nhwc_f16(const __half* x, __half* y, const Pool2d& p, cudaStream_t stream) {
  launch_max_pool(x, y, p, stream);
}

void global_avg_pool_nhwc_f16(const __half* x, __half* y, int64_t n, int64_t hw, int64_t c, cudaStream_t stream) {
  launch_global_avg_pool(x, y, n, hw, c, stream);
}

void quantize_int8(const float* x, int8_t* y, int64_t n, float scale, cudaStream_t stream) {
  launch_elementwise(Quantize{scale}, n, stream, y, x);
}

void dequantize_int8(const int8_t* x, float* y, int64_t n, float scale, cudaStream_t stream) {
  launch_elementwise(Dequantize{scale}, n, stream, y, x);
}

void transpose4d(const void* x, void* y, const int64_t in_dims[4], const int perm[4], int elem_bytes,
                 cudaStream_t stream) {
  bool seen[4] = {false, false, false, false};
  for (int a = 0; a < 4; ++a) {
    if (perm[a] < 0 || perm[a] > 3 || seen[perm[a]]) throw Error("transpose4d: perm is not a permutation of 0..3");
    seen[perm[a]] = true;
  }
  const int64_t total = in_dims[0] * in_dims[1] * in_dims[2] * in_dims[3];
  if (total == 0) return;
  if (perm[0] == 0 && perm[1] == 1 && perm[2] == 2 && perm[3] == 3) {
    OCTET_CUDA_CHECK(cudaMemcpyAsync(y, x, static_cast<size_t>(total * elem_bytes), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  switch (elem_bytes) {
    case 1:
      return transpose_elements(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), in_dims, perm, total, stream);
    case 2:
      return transpose_elements(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), in_dims, perm, total,
                                stream);
    case 4:
      return transpose_elements(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y), in_dims, perm, total,
                                stream);
    default:
      throw Error("transpose4d: elements of " + std::to_string(elem_bytes) + " bytes (1, 2 or 4 expected)");
  }
}

void max_pool_nhwc_int8(const int8_t* x, int8_t* y, const Pool2d& p, cudaStream_t stream) {
  launch_max_pool(x, y, p, stream);
}

void max_pool_nhwc_f32(const float* x, float* y, const Pool2d& p, cudaStream_t stream) {
  launch_max_pool(x, y, p, stream);
}

void avg_pool_nhwc_f32(const float* x, float* y, const Pool2d& p, bool count_include_pad, cudaStream_t stream) {
  if (p.n * p.oh * p.ow * p.c == 0) return;
  with_pack_width(channel_packs_fit(p.c, x, y), [&](auto width) {
    constexpr int V = decltype(width)::value;
    const int64_t total_packs = p.n * p.oh * p.ow * (p.c / V);
    with_index_type({p.n * p.h * p.w * p.c, p.n * p.oh * p.ow * p.c}, [&](auto index) {
      using Index = decltype(index);
      avg_pool_kernel<V, Index>
          <<<blocks_for(total_packs), kThreads, 0, stream>>>(x, y, p, count_include_pad, total_packs);
      OCTET_CUDA_CHECK_LAUNCH();
    });
  });
}

void global_avg_pool_nhwc_f32(const float* x, float* y, int64_t n, int64_t hw, int64_t c, cudaStream_t stream) {
  launch_global_avg_pool(x, y, n, hw, c, stream);
}

void int8_add(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float ra, float rb, float lo, float hi,
              cudaStream_t stream) {
  launch_elementwise(Int8Add<int8_t>{ra, rb, lo, hi}, n, stream, y, a, b);
}

void int8_add(const int8_t* a, const int8_t* b, float* y, int64_t n, float ra, float rb, float lo, float hi,
              cudaStream_t stream) {
  launch_elementwise(Int8Add<float>{ra, rb, lo, hi}, n, stream, y, a, b);
}

void int8_conv_direct(const int8_t* x, const int8_t* w, int8_t* y, const Conv2d& g, const int32_t* bias,
                      const float* scale, float lo, float hi, cudaStream_t stream) {
  launch_int8_conv_direct(x, w, y, g, bias, scale, lo, hi, stream);
}

void int8_conv_direct(const int8_t* x, const int8_t* w, float* y, const Conv2d& g, const int32_t* bias,
                      const float* scale, float lo, float hi, cudaStream_t stream) {
  launch_int8_conv_direct(x, w, y, g, bias, scale, lo, hi, stream);
}

void im2col_nhwc_int8(const int8_t* x, int8_t* cols, const Conv2d& g, int64_t k_padded, cudaStream_t stream) {
  const int64_t depth = int64_t{g.kh} * g.kw * g.c;
  if (g.group != 1 || k_padded < depth)
    throw Error("im2col_nhwc_int8: needs group 1 and k_padded >= KH*KW*C (" + std::to_string(depth) + "), got group " +
                std::to_string(g.group) + ", k_padded " + std::to_string(k_padded));
  if (g.n * g.oh * g.ow * k_padded == 0) return;
  const int64_t pixels = g.n * g.oh * g.ow;
  const size_t rows_bytes = static_cast<size_t>(kIm2colPixels * k_padded);
  if (g.c < 16 && k_padded % 16 == 0 && aligned_for(cols, 16) && rows_bytes <= 48 * 1024) {
    with_index_type({g.n * g.h * g.w * g.c, pixels * k_padded}, [&](auto index) {
      using Index = decltype(index);
      const int64_t blocks = std::min((pixels + kIm2colPixels - 1) / kIm2colPixels, kMaxBlocks);
      im2col_few_channels_kernel<Index><<<static_cast<int>(blocks), kThreads, rows_bytes, stream>>>(
          x, cols, g, static_cast<int>(k_padded), static_cast<Index>(pixels));
      OCTET_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  // Reads in packs of V channels (V divides C, so a pack never straddles two taps).
  // Writes 32 columns per thread where the rows allow (two 16-byte packs in flight:
  // the fastest of 16, 32 and 64 on an H200), else 16, else V.
  const auto packs_fit = [&](int lanes) {
    return g.c % lanes == 0 && k_padded % lanes == 0 && aligned_for(x, lanes) && aligned_for(cols, lanes);
  };
  const bool rows_16 = k_padded % 16 == 0 && aligned_for(cols, 16);
  with_pack_width(packs_fit, [&](auto width) {
    constexpr int V = decltype(width)::value;
    if (rows_16 && k_padded % 32 == 0)
      launch_im2col<V, 32>(x, cols, g, k_padded, stream);
    else if (rows_16)
      launch_im2col<V, 16>(x, cols, g, k_padded, stream);
    else
      launch_im2col<V, V>(x, cols, g, k_padded, stream);
  });
}

}  // namespace octet::cuda
