// octet's own INT8 product and direct convolution on AVX-512 VNNI (vnni_avx512.cpp,
// compiled with -mavx512vnni and run only where the CPU has it), for Int8Conv (int8_conv.cpp):
//   Y[rows x n] int8 = requantize(A[rows x k] . W[k x n] + b)
// with the numeric contract of docs/int8_kernels.md, bit for bit. vpdpbusd multiplies
// unsigned by signed bytes, so A's int8 values are shifted to uint8 (x + 128) and the
// shift is taken back exactly through each column's weight sum, folded with the bias
// into the accumulators' starting values.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/x86/variant.h"

namespace octet::x86::vnni {

// Whether this CPU runs the kernels (AVX-512 F, BW and VNNI).
bool supported();

// W [k x n] (k a multiple of 4) in panels of up to 64 columns; panel j holds, per
// group of 4 rows, its columns' 4 bytes each ((k / 4) x width x 4 bytes), the last
// panel only as wide as its columns rounded up to 16.
struct PackedInt8 {
  int64_t k = 0, n = 0;
  std::vector<int8_t> data;          // panels one after another
  std::vector<int32_t> start;        // per column, padded to whole panels: b - 128 * sum_k W[k][col]
  std::vector<float> multipliers;    // per column, padded: M = x_scale * w_scale / y_scale
  int32_t lo = -128, hi = 127;       // the activation's int8 bounds
  static constexpr int64_t kPanel = 64, kLanes = 16;
  int64_t panels() const { return (n + kPanel - 1) / kPanel; }
  int64_t panel_width(int64_t j) const {
    return j + 1 < panels() ? kPanel : (n - j * kPanel + kLanes - 1) / kLanes * kLanes;
  }
  const int8_t* panel_data(int64_t j) const { return data.data() + j * k * kPanel; }
};

// Packs W given as weight(kk, col) (int8 in [-127, 127]), with bias(col) (int32) and the multipliers.
template <class Weight, class Bias, class Multiplier>
PackedInt8 pack_int8(int64_t k, int64_t n, Weight weight, Bias bias, Multiplier multiplier, int32_t lo, int32_t hi) {
  PackedInt8 p;
  p.k = k, p.n = n, p.lo = lo, p.hi = hi;
  p.data.assign(p.panels() * k * PackedInt8::kPanel, 0);
  p.start.assign(p.panels() * PackedInt8::kPanel, 0);
  p.multipliers.assign(p.panels() * PackedInt8::kPanel, 0.0f);
  for (int64_t col = 0; col < n; ++col) {
    const int64_t j = col / PackedInt8::kPanel, width = p.panel_width(j), c = col % PackedInt8::kPanel;
    int64_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t w = weight(kk, col);
      sum += w;
      p.data[j * k * PackedInt8::kPanel + (kk / 4) * width * 4 + c * 4 + kk % 4] = w;
    }
    p.start[col] = static_cast<int32_t>(bias(col) - 128 * sum);
    p.multipliers[col] = multiplier(col);
  }
  return p;
}

// Y = requantize(A . W + b) for `rows` rows on the calling thread. `shifted` is
// scratch of at least rows_per_call() * k bytes.
void multiply(const int8_t* a, int64_t lda, int64_t rows, const PackedInt8& w, uint8_t* shifted, int8_t* y,
              int64_t ldy);
// Rows a call of multiply shifts at a time (its scratch's height).
inline constexpr int64_t kShiftRows = 96;

// The direct convolution of one block (variant.h: DirectGeometry, c a multiple of 4)
// with W packed in (kernel row, kernel column, channel) order: `x` holds the block's
// input rows already shifted to uint8 (x + 128, padding included as 128), Y is
// [pixels x w.n] int8.
void direct_conv(const DirectGeometry& g, const uint8_t* x, int64_t pixels, const PackedInt8& w, int8_t* y);

}  // namespace octet::x86::vnni
