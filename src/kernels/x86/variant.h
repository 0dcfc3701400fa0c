// What the x86 backend's kernels are built from, in one variant per instruction
// set (variant_avx512.cpp, variant_avx2.cpp: the same code from gemm_tiles.h and
// winograd_tiles.h, compiled for each), picked at run time from what the CPU
// supports; each is tested against plain loops (tests/kernels/x86).
//
// The FP32 product: Y[rows x n] = activation(A[rows x k] . B[k x n] + bias + Z)
// with B constant (weights), packed once into column panels that the register
// tiles stream, and A, Z, Y row-major with their own row strides (NHWC pixels
// are rows).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace octet::x86 {

enum class Activation { kNone, kRelu, kClip, kLeakyRelu };

// What follows the product, applied while the tile is in registers.
struct Epilogue {
  const float* bias = nullptr;  // padded to whole panels (padded_bias), or null
  Activation activation = Activation::kNone;
  float lo = 0, hi = 0;         // kClip
  float alpha = 0;              // kLeakyRelu
};

// 64-byte aligned floats (panels are read with aligned vector loads).
struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;
AlignedFloats aligned_floats(int64_t count);  // zero-filled

// B [k x n] in panels of `panel` columns: panel j holds columns [j*panel, (j+1)*panel)
// as k rows of panel_width(j) floats. The last panel is only as wide as its
// columns rounded up to whole vectors (zero-padded), so a narrow layer's weights
// take no more cache than they need.
struct PackedMatrix {
  int64_t k = 0, n = 0, panel = 0, lanes = 0;
  AlignedFloats data;
  int64_t panels() const { return (n + panel - 1) / panel; }
  int64_t panel_width(int64_t j) const {
    return j + 1 < panels() ? panel : (n - j * panel + lanes - 1) / lanes * lanes;
  }
  const float* panel_data(int64_t j) const { return data.get() + j * k * panel; }
};

// A channels-last 3x3 stride-1 convolution as Winograd F(2x2, 3x3) sees it: X
// [n, h, w, c] with pads `top`, `left` (the bottom and right ones follow from
// the output size), Y [n, oh, ow, m], cut into 2x2 output tiles.
struct WinogradGeometry {
  int64_t n, h, w, c, m, top, left, oh, ow;
  int64_t tiles_h() const { return (oh + 1) / 2; }
  int64_t tiles_w() const { return (ow + 1) / 2; }
  int64_t tiles() const { return n * tiles_h() * tiles_w(); }
};

// A channels-last direct convolution over one block of output pixels, as its
// tiles see it: `x` holds the input rows the block reads, zero-padded on every
// side, `wp` pixels of `c` floats a row; output pixel q of the block is output
// row q / ow (from the block's first), column q % ow, and reads its window from
// x's row (q / ow) * sh, column (q % ow) * sw on.
struct DirectGeometry {
  int64_t c, kh, kw, sh, sw, dh, dw, ow, wp;
};

// A max pooling window over channels-last rows (no padding): kh x kw pixels, sh x sw apart.
struct PoolWindow {
  int64_t kh, kw, sh, sw;
};

// One instruction-set variant.
struct Variant {
  std::string name;  // "avx512", "avx2"
  int64_t lanes;     // floats per vector
  int64_t panel;     // columns per packed panel
  // Rows per unit of work: callers splitting rows between threads cut at multiples of it.
  int64_t row_step;
  // Y = epilogue(A . B [+ Z]) for `rows` rows on the calling thread; z may be null.
  void (*multiply)(const float* a, int64_t lda, int64_t rows, const PackedMatrix& b, const Epilogue& e,
                   const float* z, int64_t ldz, float* y, int64_t ldy);
  // Winograd F(2x2, 3x3) for tiles [first, first + count) in (image, tile row, tile
  // column) order: the input transform writes V, 16 matrices [count x c] `v_stride`
  // floats apart; the output transform reads the 16 products [count x m] `p_stride`
  // apart and writes Y (epilogue: bias, Z of Y's shape, activation).
  void (*winograd_input)(const WinogradGeometry& g, const float* x, int64_t first, int64_t count, float* v,
                         int64_t v_stride);
  void (*winograd_output)(const WinogradGeometry& g, const float* p, int64_t p_stride, int64_t first, int64_t count,
                          const Epilogue& e, const float* z, float* y);
  // Y[pixels x w.n] = epilogue(direct convolution [+ Z]) for one block (DirectGeometry),
  // with w [kh * kw * c x m] packed in (kernel row, kernel column, channel) order; z may be null.
  void (*direct_conv)(const DirectGeometry& g, const float* x, int64_t pixels, const PackedMatrix& w,
                      const Epilogue& e, const float* z, float* y);
  // Depthwise: Y[pixels x g.c] = epilogue(per-channel convolution [+ Z]) for one block
  // (DirectGeometry), w [kh * kw taps x c rounded up to whole vectors], z may be null.
  void (*depthwise_conv)(const DirectGeometry& g, const float* x, int64_t pixels, const float* w,
                         const Epilogue& e, const float* z, float* y);
  // Y rows [0, rows) x `cols` pixels of m channels = max over `window` of X, whose rows
  // have `x_cols` pixels; max as vmaxps (a NaN already in the running max stays, a
  // later NaN does not enter it: the reference MaxPool's strict '>').
  void (*max_pool)(const float* x, int64_t x_cols, int64_t rows, int64_t cols, int64_t m, const PoolWindow& window,
                   float* y);
};

// The variants this CPU runs, fastest first (empty on a CPU without AVX2 and FMA).
const std::vector<const Variant*>& supported_variants();

// Packs B given as element(kk, col) for the variant's panel width.
template <class Element>
PackedMatrix pack_columns(const Variant& variant, int64_t k, int64_t n, Element element) {
  PackedMatrix b{k, n, variant.panel, variant.lanes, nullptr};
  b.data = aligned_floats(b.panels() * k * b.panel);
  for (int64_t col = 0; col < n; ++col) {
    const int64_t j = col / b.panel, width = b.panel_width(j);
    for (int64_t kk = 0; kk < k; ++kk) b.data[j * k * b.panel + kk * width + col % b.panel] = element(kk, col);
  }
  return b;
}

// `bias` (n values, or null for zeros) padded to b's whole panels, for Epilogue::bias.
std::vector<float> padded_bias(const PackedMatrix& b, const float* bias);

}  // namespace octet::x86
