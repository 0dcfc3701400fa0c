// Every instruction-set variant of the x86 FP32 product and of the direct
// convolution's tiles against plain loops: shapes with partial panels, vectors
// and row tiles, each epilogue, row strides, strides and dilations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/x86/variant.h"

namespace octet::x86 {
namespace {

struct Case {
  int64_t rows, k, n;
  Activation activation;
  bool bias, residual;
};

float activate(float v, const Epilogue& e) {
  switch (e.activation) {
    case Activation::kNone: return v;
    case Activation::kRelu: return std::max(v, 0.0f);
    case Activation::kClip: return std::min(std::max(v, e.lo), e.hi);
    case Activation::kLeakyRelu: return v < 0 ? v * e.alpha : v;
  }
  return v;
}

void expect_matches(const Variant& variant, const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // Row strides larger than the rows, so reads or writes past a row show up.
  const int64_t lda = c.k + 3, ldy = c.n + 5;
  std::vector<float> a(c.rows * lda), b(c.k * c.n), bias(c.n), z(c.rows * ldy);
  for (auto* v : {&a, &b, &bias, &z})
    for (float& x : *v) x = dist(rng);
  const PackedMatrix packed = pack_columns(variant, c.k, c.n, [&](int64_t kk, int64_t col) { return b[kk * c.n + col]; });
  const std::vector<float> padded = padded_bias(packed, bias.data());
  Epilogue e;
  e.bias = c.bias ? padded.data() : nullptr;
  e.activation = c.activation;
  e.lo = -0.3f, e.hi = 0.4f, e.alpha = 0.1f;
  const float sentinel = 1234.5f;
  std::vector<float> y(c.rows * ldy, sentinel);
  variant.multiply(a.data(), lda, c.rows, packed, e, c.residual ? z.data() : nullptr, ldy, y.data(), ldy);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t col = 0; col < c.n; ++col) {
      double sum = c.bias ? bias[col] : 0.0;
      for (int64_t kk = 0; kk < c.k; ++kk) sum += double(a[r * lda + kk]) * b[kk * c.n + col];
      if (c.residual) sum += z[r * ldy + col];
      const float expected = activate(static_cast<float>(sum), e);
      ASSERT_NEAR(y[r * ldy + col], expected, 1e-5 * (1 + std::sqrt(double(c.k))))
          << variant.name << " rows " << c.rows << " k " << c.k << " n " << c.n << " at " << r << "," << col;
    }
    for (int64_t col = c.n; col < ldy; ++col)
      ASSERT_EQ(y[r * ldy + col], sentinel) << variant.name << ": wrote past row " << r;
  }
}

TEST(X86GemmFp32, EveryVariantMatchesAPlainLoop) {
  ASSERT_FALSE(supported_variants().empty()) << "this test machine has AVX2";
  std::mt19937 rng(7);
  const std::vector<Case> cases{
      {1, 1, 1, Activation::kNone, false, false},      {5, 3, 17, Activation::kRelu, true, false},
      {24, 64, 64, Activation::kNone, true, true},     {25, 64, 256, Activation::kRelu, true, true},
      {50, 70, 150, Activation::kClip, true, false},   {97, 33, 24, Activation::kLeakyRelu, false, true},
      {13, 256, 16, Activation::kRelu, true, false},   {200, 16, 40, Activation::kNone, true, true},
      {31, 5, 129, Activation::kClip, false, true},    {48, 300, 100, Activation::kRelu, true, true},
  };
  for (const Variant* variant : supported_variants())
    for (const Case& c : cases) expect_matches(*variant, c, rng);
}

TEST(X86GemmFp32, ManyRowsAndLargeDepthCrossTheCacheBlocks) {
  std::mt19937 rng(8);
  // k large enough for several panel groups and A blocks.
  for (const Variant* variant : supported_variants())
    expect_matches(*variant, {600, 1100, 300, Activation::kRelu, true, true}, rng);
}


// One block of the direct convolution (variant.h: DirectGeometry) against the sum it defines.
void expect_direct_matches(const Variant& variant, const DirectGeometry& g, int64_t out_rows, int64_t m,
                           std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t in_rows = (out_rows - 1) * g.sh + (g.kh - 1) * g.dh + 1, pixels = out_rows * g.ow;
  const int64_t k = g.kh * g.kw * g.c;
  std::vector<float> x(in_rows * g.wp * g.c), w(k * m), bias(m), z(pixels * m);
  for (auto* v : {&x, &w, &bias, &z})
    for (float& value : *v) value = dist(rng);
  const PackedMatrix packed = pack_columns(variant, k, m, [&](int64_t kk, int64_t col) { return w[kk * m + col]; });
  const std::vector<float> padded = padded_bias(packed, bias.data());
  Epilogue e;
  e.bias = padded.data();
  e.activation = Activation::kLeakyRelu;
  e.alpha = 0.1f;
  std::vector<float> y(pixels * m);
  variant.direct_conv(g, x.data(), pixels, packed, e, z.data(), y.data());
  for (int64_t q = 0; q < pixels; ++q)
    for (int64_t col = 0; col < m; ++col) {
      double sum = bias[col] + z[q * m + col];
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j)
          for (int64_t ch = 0; ch < g.c; ++ch) {
            const int64_t row = q / g.ow * g.sh + i * g.dh, column = q % g.ow * g.sw + j * g.dw;
            sum += double(x[(row * g.wp + column) * g.c + ch]) * w[((i * g.kw + j) * g.c + ch) * m + col];
          }
      ASSERT_NEAR(y[q * m + col], activate(static_cast<float>(sum), e), 1e-5 * (1 + std::sqrt(double(k))))
          << variant.name << " direct c " << g.c << " k " << g.kh << "x" << g.kw << " m " << m << " at " << q << ","
          << col;
    }
}

TEST(X86DirectConvFp32, EveryVariantMatchesAPlainLoop) {
  std::mt19937 rng(9);
  for (const Variant* variant : supported_variants()) {
    // c, kh, kw, sh, sw, dh, dw, ow, wp (= (ow - 1) * sw + (kw - 1) * dw + 1)
    expect_direct_matches(*variant, {1, 5, 5, 1, 1, 1, 1, 28, 32}, 3, 16, rng);     // one channel, contiguous runs
    expect_direct_matches(*variant, {16, 3, 3, 2, 2, 1, 1, 7, 15}, 2, 32, rng);     // strided
    expect_direct_matches(*variant, {3, 3, 2, 2, 1, 2, 2, 5, 7}, 3, 70, rng);       // dilated, partial panels
    expect_direct_matches(*variant, {5, 2, 3, 1, 3, 1, 1, 3, 9}, 4, 129, rng);      // several panels
  }
}

}  // namespace
}  // namespace octet::x86
