// Gemm and MatMul: row-major i-k-j matrix products, parallel over output rows.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/dense.h"
#include "kernels/reference/reference_kernels.h"
#include "octet/parallel.h"

namespace octet {
namespace {

// ---- Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcast to [M, N] ----

struct GemmShapes {
  int64_t m = 0, k = 0, n = 0;
  int64_t c_row_stride = 0, c_col_stride = 0;  // 0 along a broadcast dim of C
};

GemmShapes read_gemm_shapes(const KernelContext& ctx, bool trans_a, bool trans_b) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  dense::require_dtype(ctx, 1, "B", a.dtype());
  if (a.rank() != 2 || b.rank() != 2)
    ctx.fail("A " + shape_str(a.shape()) + " and B " + shape_str(b.shape()) + " must be matrices");
  GemmShapes s;
  s.m = a.dim(trans_a ? 1 : 0);
  s.k = a.dim(trans_a ? 0 : 1);
  s.n = b.dim(trans_b ? 0 : 1);
  if (b.dim(trans_b ? 1 : 0) != s.k)
    ctx.fail("inner dims differ: A " + shape_str(a.shape()) + (trans_a ? " (transposed)" : "") + " and B " +
             shape_str(b.shape()) + (trans_b ? " (transposed)" : ""));
  if (ctx.has_input(2)) {
    dense::require_dtype(ctx, 2, "C", a.dtype());
    const Shape& c = ctx.input(2).shape();
    const int64_t rows = c.size() == 2 ? c[0] : 1;
    const int64_t cols = c.empty() ? 1 : c.back();
    if (c.size() > 2 || (rows != 1 && rows != s.m) || (cols != 1 && cols != s.n))
      ctx.fail("C " + shape_str(c) + " does not broadcast to [" + std::to_string(s.m) + "," + std::to_string(s.n) + "]");
    s.c_row_stride = rows == 1 ? 0 : cols;
    s.c_col_stride = cols == 1 ? 0 : 1;
  }
  return s;
}

template <class T>
void gemm(KernelContext& ctx, bool trans_a, bool trans_b, const GemmShapes& s) {
  const T alpha = static_cast<T>(ctx.node.attr_float("alpha", 1.0f));
  const T beta = static_cast<T>(ctx.node.attr_float("beta", 1.0f));
  // Transposed operands are copied once so that the product reads both row-major.
  std::vector<T> a_transposed, b_transposed;
  const T* a = ctx.input(0).data<T>();
  const T* b = ctx.input(1).data<T>();
  if (trans_a) {
    a_transposed = dense::transposed(a, s.k, s.m);
    a = a_transposed.data();
  }
  if (trans_b) {
    b_transposed = dense::transposed(b, s.n, s.k);
    b = b_transposed.data();
  }
  const T* c = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  T* y = ctx.make_output(0, ctx.input(0).dtype(), {s.m, s.n}).template data<T>();

  parallel_for(s.m, [&](int64_t row_begin, int64_t row_end) {
    dense::matmul_accumulate_rows(a, b, y, s.k, s.n, row_begin, row_end);
    for (int64_t i = row_begin; i < row_end; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        T& out = y[i * s.n + j];
        out = alpha * out + (c ? beta * c[i * s.c_row_stride + j * s.c_col_stride] : T(0));
      }
  });
}

void gemm_kernel(KernelContext& ctx) {
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const GemmShapes shapes = read_gemm_shapes(ctx, trans_a, trans_b);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64>(
      ctx, ctx.input(0).dtype(), [&](auto t) { gemm<decltype(t)>(ctx, trans_a, trans_b, shapes); });
}

// ---- MatMul: numpy matmul, batch dims broadcast ----

struct MatMulShapes {
  int64_t m = 0, k = 0, n = 0;
  Shape output;
  // For each batch of the output, the batch of A and of B it reads.
  std::vector<int64_t> a_batch, b_batch;
};

// For each row-major index into `target`, the index into `source`, which
// broadcasts to `target` numpy-style (aligned right, size-1 dims repeat).
std::vector<int64_t> broadcast_source_indices(const Shape& source, const Shape& target) {
  std::vector<int64_t> indices(static_cast<size_t>(shape_numel(target)));
  const size_t skipped = target.size() - source.size();
  for (size_t t = 0; t < indices.size(); ++t) {
    int64_t remaining = static_cast<int64_t>(t), index = 0, stride = 1;
    for (size_t d = target.size(); d-- > skipped;) {
      const int64_t coord = remaining % target[d];
      remaining /= target[d];
      const int64_t source_dim = source[d - skipped];
      index += (source_dim == 1 ? 0 : coord) * stride;
      stride *= source_dim;
    }
    indices[t] = index;
  }
  return indices;
}

MatMulShapes read_matmul_shapes(const KernelContext& ctx) {
  const Shape& a = ctx.input(0).shape();
  const Shape& b = ctx.input(1).shape();
  dense::require_dtype(ctx, 1, "B", ctx.input(0).dtype());
  if (a.empty() || b.empty()) ctx.fail("A " + shape_str(a) + " and B " + shape_str(b) + " must not be scalars");
  MatMulShapes s;
  // A 1-D A is a row [1, K], a 1-D B a column [K, 1]; those dims are dropped from the output.
  s.m = a.size() == 1 ? 1 : a[a.size() - 2];
  s.k = a.back();
  s.n = b.size() == 1 ? 1 : b.back();
  const int64_t b_rows = b.size() == 1 ? b[0] : b[b.size() - 2];
  if (b_rows != s.k) ctx.fail("inner dims differ: A " + shape_str(a) + " and B " + shape_str(b));

  const Shape a_batch(a.begin(), a.end() - std::min<size_t>(a.size(), 2));
  const Shape b_batch(b.begin(), b.end() - std::min<size_t>(b.size(), 2));
  Shape batch(std::max(a_batch.size(), b_batch.size()));
  for (size_t d = 0; d < batch.size(); ++d) {
    const size_t from_end = batch.size() - d;
    const int64_t a_dim = from_end <= a_batch.size() ? a_batch[a_batch.size() - from_end] : 1;
    const int64_t b_dim = from_end <= b_batch.size() ? b_batch[b_batch.size() - from_end] : 1;
    if (a_dim != b_dim && a_dim != 1 && b_dim != 1)
      ctx.fail("batch dims of A " + shape_str(a) + " and B " + shape_str(b) + " do not broadcast");
    batch[d] = a_dim == 1 ? b_dim : a_dim;
  }
  s.a_batch = broadcast_source_indices(a_batch, batch);
  s.b_batch = broadcast_source_indices(b_batch, batch);
  s.output = batch;
  if (a.size() > 1) s.output.push_back(s.m);
  if (b.size() > 1) s.output.push_back(s.n);
  return s;
}

template <class T>
void matmul(KernelContext& ctx, const MatMulShapes& s) {
  const T* a = ctx.input(0).data<T>();
  const T* b = ctx.input(1).data<T>();
  T* y = ctx.make_output(0, ctx.input(0).dtype(), s.output).template data<T>();
  const int64_t batches = static_cast<int64_t>(s.a_batch.size());
  // Parallel over all output rows of all batches.
  parallel_for(batches * s.m, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t batch = row / s.m, i = row % s.m;
      dense::matmul_accumulate_rows(a + s.a_batch[batch] * s.m * s.k, b + s.b_batch[batch] * s.k * s.n,
                                    y + batch * s.m * s.n, s.k, s.n, i, i + 1);
    }
  });
}

void matmul_kernel(KernelContext& ctx) {
  const MatMulShapes shapes = read_matmul_shapes(ctx);
  dense::dispatch_dtype<DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64>(
      ctx, ctx.input(0).dtype(), [&](auto t) { matmul<decltype(t)>(ctx, shapes); });
}

}  // namespace

void register_gemm_kernels(KernelRegistry& r) {
  r.add(KernelDef{"Gemm", "", 1, 17, "reference", gemm_kernel});
  r.add(KernelDef{"MatMul", "", 1, 17, "reference", matmul_kernel});
}

}  // namespace octet
