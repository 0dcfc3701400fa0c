// Int8MatMul (domain "octet"): Y[..., N] = A[..., K] x W[K, N] over int8 operands with
// per-output-column weight scales, an int32 bias, int32 accumulation and a requantized
// int8 (or float) output. Gemm(transB) and MatMul map onto it with W transposed at build time.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/dense.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

void int8_matmul_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& w = ctx.input(1);
  dense::require_dtype(ctx, 0, "A", DType::kInt8);
  dense::require_dtype(ctx, 1, "W", DType::kInt8);
  if (a.rank() < 1) ctx.fail("A must not be a scalar");
  if (w.rank() != 2) ctx.fail("W " + shape_str(w.shape()) + " must be a [K, N] matrix");
  const int64_t k = w.dim(0), n = w.dim(1);
  if (a.dim(-1) != k) ctx.fail("inner dims differ: A " + shape_str(a.shape()) + " and W " + shape_str(w.shape()));
  const int32_t* bias = nullptr;
  if (ctx.has_input(2)) {
    dense::require_dtype(ctx, 2, "B", DType::kInt32);
    const Tensor& b = ctx.input(2);
    if (b.rank() != 1 || b.dim(0) != n)
      ctx.fail("B " + shape_str(b.shape()) + " must be [" + std::to_string(n) + "]");
    bias = b.data<int32_t>();
  }
  const int8::Requantizer rq = int8::read_requantizer(ctx, n);
  int8::require_weight_range(ctx, 1);
  int8::require_depth_fits(ctx, k);

  Shape out_shape = a.shape();
  out_shape.back() = n;
  const int64_t rows = shape_numel(Shape(a.shape().begin(), a.shape().end() - 1));
  Tensor& y = ctx.make_output(0, rq.output_dtype, out_shape);
  int8_t* y_int8 = rq.output_dtype == DType::kInt8 ? y.data<int8_t>() : nullptr;
  float* y_float = rq.output_dtype == DType::kFloat32 ? y.data<float>() : nullptr;
  const int8_t* a_data = a.data<int8_t>();
  const std::vector<int16_t> w16 = int8::widened(w);

  // Parallel over rows; nothing below throws.
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(n));
    for (int64_t row = begin; row < end; ++row) {
      std::fill(acc.begin(), acc.end(), 0);
      int8::matmul_accumulate_rows(a_data + row * k, w16.data(), acc.data(), k, n, 0, 1);
      for (int64_t j = 0; j < n; ++j) {
        const int32_t v = int8::add_bias(acc[j], bias ? bias[j] : 0);
        if (y_int8)
          y_int8[row * n + j] = rq.to_int8(v, j);
        else
          y_float[row * n + j] = rq.to_float(v, j);
      }
    }
  });
}

}  // namespace

void register_int8_matmul_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Int8MatMul", int8::kDomain, 1, INT64_MAX, "reference", int8_matmul_kernel});
}

}  // namespace octet
