// Layout helpers shared by the reference data-movement kernels: axis
// normalisation, dense strides and one N-D strided copy that serves Slice,
// Transpose, Concat, Split and Pad (and the channels-last wrapper, channels_last.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "octet/kernel.h"

namespace octet {

// Maps an ONNX axis in [-rank, rank) to [0, rank); fails naming `what` otherwise.
inline int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank,
                              const std::string& what = "axis") {
  if (axis < -rank || axis >= rank)
    ctx.fail(what + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

// Row-major element strides of a dense tensor of `shape`.
inline std::vector<int64_t> dense_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

// Where element (i_0, ..., i_k) of a box lives in a buffer, counted in elements:
// offset + sum(i_d * strides[d]). Strides may be negative (reversed slices).
struct StridedLayout {
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

namespace strided_copy_detail {

template <class T>
inline void copy_row(const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride,
                     int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * src_stride * sizeof(T), sizeof(T));
    std::memcpy(dst + i * dst_stride * sizeof(T), &v, sizeof(T));
  }
}

inline void copy_row_any(const std::byte* src, int64_t src_stride, std::byte* dst,
                         int64_t dst_stride, int64_t n, size_t elem_size) {
  if (src_stride == 1 && dst_stride == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * elem_size);
    return;
  }
  switch (elem_size) {
    case 1: return copy_row<uint8_t>(src, src_stride, dst, dst_stride, n);
    case 2: return copy_row<uint16_t>(src, src_stride, dst, dst_stride, n);
    case 4: return copy_row<uint32_t>(src, src_stride, dst, dst_stride, n);
    case 8: return copy_row<uint64_t>(src, src_stride, dst, dst_stride, n);
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * dst_stride * elem_size, src + i * src_stride * elem_size, elem_size);
  }
}

}  // namespace strided_copy_detail

// Copies every element of an `extent`-shaped box from `src` (laid out as `from`)
// to `dst` (laid out as `to`). Callers guarantee both layouts stay inside their buffers.
inline void strided_copy(const void* src, const StridedLayout& from, void* dst,
                         const StridedLayout& to, const Shape& extent, size_t elem_size) {
  if (shape_numel(extent) == 0) return;
  // Merge dimensions that are contiguous in both layouts so the inner loop runs long.
  Shape dims;
  std::vector<int64_t> src_strides, dst_strides;
  for (size_t d = 0; d < extent.size(); ++d) {
    if (extent[d] == 1) continue;
    if (!dims.empty() && src_strides.back() == from.strides[d] * extent[d] &&
        dst_strides.back() == to.strides[d] * extent[d]) {
      dims.back() *= extent[d];
      src_strides.back() = from.strides[d];
      dst_strides.back() = to.strides[d];
      continue;
    }
    dims.push_back(extent[d]);
    src_strides.push_back(from.strides[d]);
    dst_strides.push_back(to.strides[d]);
  }
  if (dims.empty()) {  // a single element
    dims.push_back(1);
    src_strides.push_back(1);
    dst_strides.push_back(1);
  }

  const auto* src_base = static_cast<const std::byte*>(src);
  auto* dst_base = static_cast<std::byte*>(dst);
  const size_t outer_rank = dims.size() - 1;
  std::vector<int64_t> index(outer_rank, 0);
  int64_t src_pos = from.offset, dst_pos = to.offset;
  while (true) {
    strided_copy_detail::copy_row_any(src_base + src_pos * static_cast<int64_t>(elem_size),
                                      src_strides.back(),
                                      dst_base + dst_pos * static_cast<int64_t>(elem_size),
                                      dst_strides.back(), dims.back(), elem_size);
    // Odometer step over the outer dimensions.
    size_t d = outer_rank;
    while (d > 0) {
      --d;
      src_pos += src_strides[d];
      dst_pos += dst_strides[d];
      if (++index[d] < dims[d]) break;
      src_pos -= src_strides[d] * dims[d];
      dst_pos -= dst_strides[d] * dims[d];
      index[d] = 0;
      if (d == 0) return;
    }
    if (outer_rank == 0) return;
  }
}

// Transpose's output shape: axis i of the result is axis perm[i] of `shape`.
inline Shape permuted_shape(const Shape& shape, const std::vector<int64_t>& perm) {
  Shape permuted(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) permuted[i] = shape[perm[i]];
  return permuted;
}

// Whether permuting `shape` by `perm` keeps its axes longer than 1 in order: then the
// permuted tensor holds the same bytes (NCHW <-> NHWC with one channel, or 1x1 pixels).
inline bool permutation_keeps_data_order(const Shape& shape, const std::vector<int64_t>& perm) {
  int64_t last = -1;
  for (int64_t axis : perm) {
    if (shape[axis] == 1) continue;
    if (axis < last) return false;
    last = axis;
  }
  return true;
}

// Copies dense `x` into dense `out` of permuted_shape(x.shape(), perm), where
// perm is a permutation of x's axes.
inline void copy_permuted(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  const std::vector<int64_t> x_strides = dense_strides(x.shape());
  StridedLayout from{0, std::vector<int64_t>(perm.size())};
  for (size_t i = 0; i < perm.size(); ++i) from.strides[i] = x_strides[perm[i]];
  strided_copy(x.raw(), from, out.raw(), {0, dense_strides(out.shape())}, out.shape(), dtype_size(x.dtype()));
}

}  // namespace octet
