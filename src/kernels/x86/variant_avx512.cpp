// The AVX-512 variant of the x86 kernels (variant.h): 16-float vectors, 64-column
// panels, up to 24 accumulators of the 32 registers (tiles of 6x4, 8x3, 8x2, 8x1 vectors).
// Compiled with -mavx512f -mfma (CMakeLists.txt); only run where the CPU has them.
#include <immintrin.h>

// GCC 12's _mm512_max_ps / _mm512_min_ps pass _mm512_undefined_ps() as an unused
// merge source, which -Wmaybe-uninitialized reports at every use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/x86/variant.h"

namespace octet::x86 {
namespace avx512 {

using Vec = __m512;
using Tail = __mmask16;
constexpr int kLanes = 16, kPanelVectors = 4, kMaxAccumulators = 24;

inline Tail tail_mask(int count) { return static_cast<Tail>((1u << count) - 1); }
inline Vec load_aligned(const float* p) { return _mm512_load_ps(p); }
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline Vec load_tail(const float* p, Tail t) { return _mm512_maskz_loadu_ps(t, p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void store_tail(float* p, Vec v, Tail t) { _mm512_mask_storeu_ps(p, t, v); }
inline Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }

#include "kernels/x86/gemm_tiles.h"
#include "kernels/x86/winograd_tiles.h"
#include "kernels/x86/direct_tiles.h"

}  // namespace avx512

extern const Variant kVariantAvx512;
const Variant kVariantAvx512{"avx512", avx512::kLanes, avx512::kPanel, avx512::kRowStep, avx512::multiply, avx512::winograd_input,
                             avx512::winograd_output, avx512::direct_conv, avx512::depthwise_conv,
                             avx512::max_pool};

}  // namespace octet::x86
