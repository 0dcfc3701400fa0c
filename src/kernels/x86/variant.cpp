#include "kernels/x86/variant.h"

#include <algorithm>
#include <cstring>
#include <new>


namespace octet::x86 {

// Defined in variant_avx512.cpp and variant_avx2.cpp, each compiled for its instruction set.
extern const Variant kVariantAvx512;
extern const Variant kVariantAvx2;

AlignedFloats aligned_floats(int64_t count) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return AlignedFloats(p);
}

const std::vector<const Variant*>& supported_variants() {
  static const std::vector<const Variant*> variants = [] {
    std::vector<const Variant*> v;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) v.push_back(&kVariantAvx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back(&kVariantAvx2);
    return v;
  }();
  return variants;
}

std::vector<float> padded_bias(const PackedMatrix& b, const float* bias) {
  std::vector<float> padded(b.panels() * b.panel, 0.0f);
  if (bias) std::copy(bias, bias + b.n, padded.begin());
  return padded;
}

}  // namespace octet::x86
