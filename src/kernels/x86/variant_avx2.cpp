// The AVX2 variant of the x86 kernels (variant.h): 8-float vectors, 32-column
// panels, up to 12 accumulators of the 16 registers (tiles of 3x4, 4x3, 6x2, 8x1 vectors).
// Compiled with -mavx2 -mfma (CMakeLists.txt); only run where the CPU has them.
#include <immintrin.h>

#include "kernels/x86/variant.h"

namespace octet::x86 {
namespace avx2 {

using Vec = __m256;
using Tail = __m256i;  // lanes to load / store: all bits set
constexpr int kLanes = 8, kPanelVectors = 4, kMaxAccumulators = 12;

inline Tail tail_mask(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Vec load_aligned(const float* p) { return _mm256_load_ps(p); }
inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
inline Vec load_tail(const float* p, Tail t) { return _mm256_maskload_ps(p, t); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void store_tail(float* p, Vec v, Tail t) { _mm256_maskstore_ps(p, t, v); }
inline Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
inline Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }

#include "kernels/x86/gemm_tiles.h"
#include "kernels/x86/winograd_tiles.h"
#include "kernels/x86/direct_tiles.h"

}  // namespace avx2

extern const Variant kVariantAvx2;
const Variant kVariantAvx2{"avx2", avx2::kLanes, avx2::kPanel, avx2::kRowStep, avx2::multiply, avx2::winograd_input,
                           avx2::winograd_output, avx2::direct_conv, avx2::depthwise_conv,
                             avx2::max_pool};

}  // namespace octet::x86
