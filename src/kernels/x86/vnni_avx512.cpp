// The AVX-512 VNNI INT8 product (vnni.h). A tile is kRows rows x kVectors vectors
// of 16 int32 accumulators, each step (4 of k) loading kVectors weight vectors and
// broadcasting 4 shifted bytes of A per row into vpdpbusd. The epilogue follows the
// contract: (float)acc * M, clamped to the activation's integer bounds (clamping
// before rounding equals clamping after for integer bounds), rounded half to even
// (vcvtps2dq under the default rounding mode) and narrowed.
// Compiled with -mavx512f -mavx512bw -mavx512vnni (CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/x86/vnni.h"

namespace octet::x86::vnni {
namespace {

constexpr int kMaxAccumulators = 24;
constexpr int tile_rows(int vectors) { return kMaxAccumulators / vectors < 8 ? kMaxAccumulators / vectors : 8; }

// acc + x . w (vpdpbusd). As an asm statement: with the intrinsic, GCC 12 keeps a
// 24-register tile's accumulators on the stack, storing each after every step.
inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i x, __m512i w) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  return acc;
}

// The per-panel constants of an epilogue.
struct PanelEpilogue {
  const int32_t* start;
  const float* multipliers;
  __m512 lo, hi;
  __mmask16 tail;
};

// One tile of a direct convolution (the product is one with a 1x1 window): pixel
// r's window starts at source(r); steps of 4 bytes along each kernel row's run.
template <int kRows, int kVectors, class Source>
inline __attribute__((always_inline)) void tile(const DirectGeometry& g, Source source, const int8_t* panel,
                                                const PanelEpilogue& e, int8_t* y, int64_t ldy) {
  __m512i acc[kRows][kVectors];
  for (int v = 0; v < kVectors; ++v) {
    const __m512i s = _mm512_loadu_si512(e.start + v * 16);
    for (int r = 0; r < kRows; ++r) acc[r][v] = s;
  }
  const int64_t groups = (g.dw == 1 ? g.kw * g.c : g.c) / 4;
  const int64_t runs = g.dw == 1 ? 1 : g.kw;
  const int8_t* w = panel;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < runs; ++j) {
      const int64_t offset = (i * g.dh * g.wp + j * g.dw) * g.c;
      for (int64_t q = 0; q < groups; ++q, w += kVectors * 64) {
        __m512i wv[kVectors];
        for (int v = 0; v < kVectors; ++v) wv[v] = _mm512_loadu_si512(w + v * 64);
        for (int r = 0; r < kRows; ++r) {
          int32_t four;
          std::memcpy(&four, source(r) + offset + q * 4, 4);
          const __m512i x = _mm512_set1_epi32(four);
          for (int v = 0; v < kVectors; ++v) acc[r][v] = dpbusd(acc[r][v], x, wv[v]);
        }
      }
    }
  // Requantized: (float)acc * M, clamped, rounded half to even, narrowed.
  for (int v = 0; v < kVectors; ++v) {
    const __m512 m = _mm512_loadu_ps(e.multipliers + v * 16);
    const __mmask16 mask = v + 1 < kVectors ? __mmask16(0xffff) : e.tail;
    for (int r = 0; r < kRows; ++r) {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), m);
      f = _mm512_min_ps(_mm512_max_ps(f, e.lo), e.hi);
      _mm512_mask_cvtepi32_storeu_epi8(y + r * ldy + v * 16, mask, _mm512_cvtps_epi32(f));
    }
  }
}

template <int kVectors>
void direct_panel(const DirectGeometry& g, const uint8_t* x, int64_t pixels, const int8_t* panel,
                  const PanelEpilogue& e, int8_t* y, int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  int64_t oy = 0, ox = 0;  // the next pixel's output row (in the block) and column
  auto next_source = [&] {
    const uint8_t* s = x + (oy * g.sh * g.wp + ox * g.sw) * g.c;
    if (++ox == g.ow) ox = 0, ++oy;
    return s;
  };
  int64_t q = 0;
  for (; q + kRows <= pixels; q += kRows) {
    const uint8_t* source[kRows];
    for (int r = 0; r < kRows; ++r) source[r] = next_source();
    tile<kRows, kVectors>(g, [&](int r) { return source[r]; }, panel, e, y + q * ldy, ldy);
  }
  for (; q < pixels; ++q) {
    const uint8_t* source = next_source();
    tile<1, kVectors>(g, [&](int) { return source; }, panel, e, y + q * ldy, ldy);
  }
}

// Calls f.template operator()<V>() for V = vectors (1 .. 4) and the panel's epilogue constants.
template <class F>
void for_panel(const PackedInt8& w, int64_t j, F f) {
  const int64_t cols = std::min(PackedInt8::kPanel, w.n - j * PackedInt8::kPanel);
  const int vectors = static_cast<int>((cols + 15) / 16);
  const PanelEpilogue e{w.start.data() + j * PackedInt8::kPanel, w.multipliers.data() + j * PackedInt8::kPanel,
                        _mm512_set1_ps(static_cast<float>(w.lo)), _mm512_set1_ps(static_cast<float>(w.hi)),
                        static_cast<__mmask16>((1u << (cols - (vectors - 1) * 16)) - 1)};
  switch (vectors) {
    case 1: f.template operator()<1>(e); break;
    case 2: f.template operator()<2>(e); break;
    case 3: f.template operator()<3>(e); break;
    default: f.template operator()<4>(e);
  }
}

// Rows of A against one panel: a direct convolution with a 1x1 window, k channels.
template <int kVectors>
void panel_rows(const uint8_t* a, int64_t k, int64_t rows, const int8_t* panel, const PanelEpilogue& e, int8_t* y,
                int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  const DirectGeometry pointwise{k, 1, 1, 1, 1, 1, 1, rows, rows};
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile<kRows, kVectors>(pointwise, [&](int i) { return a + (r + i) * k; }, panel, e, y + r * ldy, ldy);
  for (; r < rows; ++r) tile<1, kVectors>(pointwise, [&](int) { return a + r * k; }, panel, e, y + r * ldy, ldy);
}

}  // namespace

bool supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

void multiply(const int8_t* a, int64_t lda, int64_t rows, const PackedInt8& w, uint8_t* shifted, int8_t* y,
              int64_t ldy) {
  const int64_t k = w.k;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t r0 = 0; r0 < rows; r0 += kShiftRows) {
    const int64_t count = std::min(kShiftRows, rows - r0);
    // x + 128 as uint8 is x with its top bit flipped.
    for (int64_t r = 0; r < count; ++r) {
      const int8_t* src = a + (r0 + r) * lda;
      uint8_t* dst = shifted + r * k;
      int64_t i = 0;
      for (; i + 64 <= k; i += 64)
        _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), flip));
      for (; i < k; ++i) dst[i] = static_cast<uint8_t>(src[i] ^ 0x80);
    }
    for (int64_t j = 0; j < w.panels(); ++j)
      for_panel(w, j, [&]<int kVectors>(const PanelEpilogue& e) {
        panel_rows<kVectors>(shifted, k, count, w.panel_data(j), e, y + r0 * ldy + j * PackedInt8::kPanel, ldy);
      });
  }
}

void direct_conv(const DirectGeometry& g, const uint8_t* x, int64_t pixels, const PackedInt8& w, int8_t* y) {
  for (int64_t j = 0; j < w.panels(); ++j)
    for_panel(w, j, [&]<int kVectors>(const PanelEpilogue& e) {
      direct_panel<kVectors>(g, x, pixels, w.panel_data(j), e, y + j * PackedInt8::kPanel, w.n);
    });
}

}  // namespace octet::x86::vnni
