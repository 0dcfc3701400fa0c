// Building blocks shared by the elementwise reference kernels: dtype sets,
// numpy-style broadcasting, a walk over an elementwise output in contiguous segments (split
// across threads when large), and UB-free numeric conversion.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "octet/kernel.h"
#include "octet/parallel.h"
#include "kernels/reference/dense.h"

namespace octet {

// A set of dtypes a kernel accepts; dispatch() calls fn(T{}) for the C++ type of
// `dtype`, or reports it as unsupported.
template <DType... Supported>
struct DTypes {
  template <class Fn>
  static void dispatch(const KernelContext& ctx, DType dtype, Fn&& fn) {
    dense::dispatch_dtype<Supported...>(ctx, dtype, fn);
  }
};
using FloatTypes = DTypes<DType::kFloat32, DType::kFloat64>;
// Floats and signed integers.
using SignedTypes = DTypes<DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kInt16,
                           DType::kInt32, DType::kInt64>;
// Floats and all integers (not bool).
using NumericTypes = DTypes<DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kUInt8,
                            DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                            DType::kInt64, DType::kUInt64>;

// Output shape of numpy multidirectional broadcasting of `a` and `b`; fails
// naming both shapes when they are incompatible.
inline Shape broadcast_shape(const KernelContext& ctx, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t d = 0; d < rank; ++d) {
    // Align trailing dimensions; missing leading dimensions count as 1.
    const int64_t da = d + a.size() >= rank ? a[d + a.size() - rank] : 1;
    const int64_t db = d + b.size() >= rank ? b[d + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      ctx.fail("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
    out[d] = da == 1 ? db : da;
  }
  return out;
}

// Fails unless `operand` broadcasts to `target` without changing it
// (unidirectional broadcasting, as for PRelu's slope).
inline void require_broadcasts_to(const KernelContext& ctx, const Shape& operand, const Shape& target) {
  if (broadcast_shape(ctx, target, operand) != target)
    ctx.fail("cannot broadcast shape " + shape_str(operand) + " to " + shape_str(target));
}

// Outputs with at least this many elements are split across threads.
inline constexpr int64_t kParallelMinElements = 1 << 15;

// Runs fn(begin, end) over [0, n), in parallel chunks when n is large. fn must not throw.
template <class Fn>
void for_each_chunk(int64_t n, Fn&& fn) {
  if (n >= kParallelMinElements) {
    parallel_for(n, fn);
  } else if (n > 0) {
    fn(int64_t{0}, n);
  }
}

// Walks an elementwise output of shape `out`, whose N inputs broadcast to it
// (caller-validated), in row-major order. It calls
//   segment(out_offset, in_offsets, in_steps, length)
// for runs of `length` outputs starting at out_offset, along which input k is
// read at in_offsets[k] + i * in_steps[k]; each step is 1 (contiguous) or 0
// (broadcast). Adjacent dimensions are merged first, so same-shape inputs give
// one run, and a per-channel operand gives runs of a whole plane.
template <size_t N, class SegmentFn>
void for_each_segment(const Shape& out, const std::array<Shape, N>& inputs, SegmentFn&& segment) {
  // Merged output dims, and per input the element stride along each (0 = broadcast).
  Shape dims;
  std::array<std::vector<int64_t>, N> strides;
  std::array<std::vector<int64_t>, N> input_strides;  // per output dim, before merging
  for (size_t k = 0; k < N; ++k) {
    const Shape& in = inputs[k];
    input_strides[k].assign(out.size(), 0);
    int64_t stride = 1;
    for (size_t j = in.size(); j-- > 0;) {
      const size_t d = j + out.size() - in.size();
      if (in[j] != 1) input_strides[k][d] = stride;
      stride *= in[j];
    }
  }
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;  // contributes nothing to any offset
    // Dimension d folds into the previous one when, for every input, stepping the
    // previous one equals stepping d out[d] times (both 0 when broadcast).
    bool mergeable = !dims.empty();
    for (size_t k = 0; k < N && mergeable; ++k)
      mergeable = strides[k].back() == input_strides[k][d] * out[d];
    if (mergeable) {
      dims.back() *= out[d];
      for (size_t k = 0; k < N; ++k) strides[k].back() = input_strides[k][d];
    } else {
      dims.push_back(out[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(input_strides[k][d]);
    }
  }
  if (dims.empty()) {  // scalar output, or all dimensions 1
    dims.push_back(1);
    for (auto& s : strides) s.push_back(0);
  }

  const size_t inner = dims.size() - 1;
  std::array<int64_t, N> steps;
  for (size_t k = 0; k < N; ++k) steps[k] = strides[k][inner];

  for_each_chunk(shape_numel(out), [&](int64_t begin, int64_t end) {
    // Multi-index and input offsets of element `begin`.
    std::vector<int64_t> index(dims.size());
    std::array<int64_t, N> offsets{};
    for (int64_t rest = begin, d = inner; d >= 0; --d) {
      index[d] = rest % dims[d];
      rest /= dims[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += index[d] * strides[k][d];
    }
    for (int64_t pos = begin; pos < end;) {
      const int64_t length = std::min(dims[inner] - index[inner], end - pos);
      segment(pos, offsets, steps, length);
      pos += length;
      index[inner] += length;
      for (size_t k = 0; k < N; ++k) offsets[k] += length * steps[k];
      // Carry into outer dimensions (an odometer over `dims`).
      for (size_t d = inner; d > 0 && index[d] == dims[d]; --d) {
        index[d] = 0;
        ++index[d - 1];
        for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d - 1] - dims[d] * strides[k][d];
      }
    }
  });
}

// Converts one element value between C++ numeric types without undefined
// behaviour: to bool is "non-zero"; float to integer truncates toward zero like
// numpy, and where ONNX leaves the result undefined (NaN, out of range) gives 0
// or saturates instead.
template <class To, class From>
To convert_value(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    using Limits = std::numeric_limits<To>;
    if (std::isnan(v)) return 0;
    // The limits convert to a float at or beyond the true limit (they are 0 or
    // +-2^k, or 2^k - 1 rounding up), so any value strictly inside truncates into range.
    if (v <= static_cast<From>(Limits::min())) return Limits::min();
    if (v >= static_cast<From>(Limits::max())) return Limits::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace octet
