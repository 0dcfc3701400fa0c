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

// acc += x . w (vpdpbusd). As an asm statement: GCC 12 keeps the intrinsic's
// accumulators of a 24-register tile on the stack, storing each after every step.
inline __attribute__((always_inline)) void dpbusd(__m512i& acc, __m512i x, __m512i w) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

template <int kRows, int kVectors>
inline __attribute__((always_inline)) void tile(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t groups,
                                                const int32_t* start, const float* multipliers, __m512 lo, __m512 hi,
                                                __mmask16 tail, int8_t* y, int64_t ldy) {
  __m512i acc[kRows][kVectors];
  for (int v = 0; v < kVectors; ++v) {
    const __m512i s = _mm512_loadu_si512(start + v * 16);
    for (int r = 0; r < kRows; ++r) acc[r][v] = s;
  }
  for (int64_t g = 0; g < groups; ++g) {
    __m512i w[kVectors];
    for (int v = 0; v < kVectors; ++v) w[v] = _mm512_loadu_si512(panel + (g * kVectors + v) * 64);
    for (int r = 0; r < kRows; ++r) {
      int32_t four;
      std::memcpy(&four, a + r * lda + g * 4, 4);
      const __m512i x = _mm512_set1_epi32(four);
      for (int v = 0; v < kVectors; ++v) dpbusd(acc[r][v], x, w[v]);
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    const __m512 m = _mm512_loadu_ps(multipliers + v * 16);
    const __mmask16 mask = v + 1 < kVectors ? __mmask16(0xffff) : tail;
    for (int r = 0; r < kRows; ++r) {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), m);
      f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
      _mm512_mask_cvtepi32_storeu_epi8(y + r * ldy + v * 16, mask, _mm512_cvtps_epi32(f));
    }
  }
}

template <int kVectors>
void panel_rows(const uint8_t* a, int64_t lda, int64_t rows, const int8_t* panel, int64_t groups, const int32_t* start,
                const float* multipliers, __m512 lo, __m512 hi, __mmask16 tail, int8_t* y, int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile<kRows, kVectors>(a + r * lda, lda, panel, groups, start, multipliers, lo, hi, tail, y + r * ldy, ldy);
  for (; r < rows; ++r)
    tile<1, kVectors>(a + r * lda, lda, panel, groups, start, multipliers, lo, hi, tail, y + r * ldy, ldy);
}

}  // namespace

bool supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

void multiply(const int8_t* a, int64_t lda, int64_t rows, const PackedInt8& w, uint8_t* shifted, int8_t* y,
              int64_t ldy) {
  const int64_t k = w.k, groups = k / 4;
  const __m512 lo = _mm512_set1_ps(static_cast<float>(w.lo)), hi = _mm512_set1_ps(static_cast<float>(w.hi));
  const __m512i bias128 = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t r0 = 0; r0 < rows; r0 += kShiftRows) {
    const int64_t count = std::min(kShiftRows, rows - r0);
    // x + 128 as uint8 is x with its top bit flipped.
    for (int64_t r = 0; r < count; ++r) {
      const int8_t* src = a + (r0 + r) * lda;
      uint8_t* dst = shifted + r * k;
      int64_t i = 0;
      for (; i + 64 <= k; i += 64)
        _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), bias128));
      for (; i < k; ++i) dst[i] = static_cast<uint8_t>(src[i] ^ 0x80);
    }
    for (int64_t j = 0; j < w.panels(); ++j) {
      const int64_t cols = std::min(PackedInt8::kPanel, w.n - j * PackedInt8::kPanel);
      const int vectors = static_cast<int>((cols + 15) / 16);
      const __mmask16 tail = static_cast<__mmask16>((1u << (cols - (vectors - 1) * 16)) - 1);
      const int8_t* panel = w.panel_data(j);
      const int32_t* start = w.start.data() + j * PackedInt8::kPanel;
      const float* multipliers = w.multipliers.data() + j * PackedInt8::kPanel;
      int8_t* yj = y + r0 * ldy + j * PackedInt8::kPanel;
      switch (vectors) {
        case 1: panel_rows<1>(shifted, k, count, panel, groups, start, multipliers, lo, hi, tail, yj, ldy); break;
        case 2: panel_rows<2>(shifted, k, count, panel, groups, start, multipliers, lo, hi, tail, yj, ldy); break;
        case 3: panel_rows<3>(shifted, k, count, panel, groups, start, multipliers, lo, hi, tail, yj, ldy); break;
        default: panel_rows<4>(shifted, k, count, panel, groups, start, multipliers, lo, hi, tail, yj, ldy);
      }
    }
  }
}

}  // namespace octet::x86::vnni
