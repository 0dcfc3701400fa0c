// Helpers shared by the dense reference kernels (Conv, pools, Gemm, MatMul,
// normalisations): dtype dispatch and a row-range matrix product.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "octet/kernel.h"

namespace octet::dense {

// Calls fn(T{}) with T the C++ type of `dtype` when it is one of `Supported`;
// otherwise reports the dtype as unsupported.
template <DType... Supported, class Fn>
void dispatch_dtype(const KernelContext& ctx, DType dtype, Fn&& fn) {
  const bool handled =
      ((dtype == Supported ? (fn(typename DTypeTraits<Supported>::type{}), true) : false) || ...);
  if (!handled) ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " is not supported");
}

// Fails unless input `index` (named `what` in the message) has dtype `expected`.
inline void require_dtype(const KernelContext& ctx, size_t index, const char* what, DType expected) {
  const DType actual = ctx.input(index).dtype();
  if (actual != expected)
    ctx.fail(std::string(what) + " has dtype " + std::string(dtype_name(actual)) + " but " +
             std::string(dtype_name(expected)) + " is expected");
}

// y[0..n) += alpha * x[0..n).
template <class T>
inline void axpy(T alpha, const T* __restrict x, T* __restrict y, int64_t n) {
  // Fixed blocks of 8: GCC's -O2 cost model only vectorises loops whose trip
  // count it knows, so this keeps the hot loop of Conv/Gemm/MatMul vectorised.
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u) y[j + u] += alpha * x[j + u];
  for (; j < n; ++j) y[j] += alpha * x[j];
}

// c[i, :] += a[i, :] * b for rows i in [row_begin, row_end), with a [rows x depth],
// b [depth x cols] and c [rows x cols] row-major and contiguous (i-k-j order).
template <class T>
void matmul_accumulate_rows(const T* a, const T* b, T* c, int64_t depth, int64_t cols,
                            int64_t row_begin, int64_t row_end) {
  for (int64_t i = row_begin; i < row_end; ++i)
    for (int64_t p = 0; p < depth; ++p) axpy(a[i * depth + p], b + p * cols, c + i * cols, cols);
}

// Row-major copy of the transpose of a [rows x cols] matrix.
template <class T>
std::vector<T> transposed(const T* m, int64_t rows, int64_t cols) {
  std::vector<T> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  return t;
}

}  // namespace octet::dense
