// int8_gemm (src/kernels/cuda/int8_gemm.h) against requantize.h on the CPU, element for
// element, on the tensor-core path (CUTLASS, both tile configurations) and the plain
// kernel: hand-checked ties, saturation and bounds, bias saturation, float output, random
// shapes with and without a residual sum, and capture into a CUDA graph. Outputs are poisoned (0x5a bytes) first so
// unwritten elements show.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cuda/int8_gemm.h"
#include "kernels/reference/int8/int8_kernels.h"
#include "kernels/reference/int8/requantize.h"
#include "kernels/cuda/cuda_test_support.h"

namespace octet::cuda {
namespace {

using testing::DeviceBuffer;
constexpr float kInf = std::numeric_limits<float>::infinity();

// A [M, K], B [N, K], per-column bias and scale.
struct Problem {
  int64_t M = 0, N = 0, K = 0;
  std::vector<int8_t> a, b;
  std::vector<int32_t> bias;
  std::vector<float> scale;
};

// The outputs of one GEMM call on the GPU (bias passed as null when !with_bias).
template <class T>
std::vector<T> run_on_gpu(const Problem& p, bool with_bias, float lo, float hi, std::optional<Int8GemmTile> tile = {}) {
  DeviceBuffer<int8_t> a(p.a), b(p.b);
  DeviceBuffer<int32_t> bias(p.bias);
  DeviceBuffer<float> scale(p.scale);
  DeviceBuffer<T> d(static_cast<size_t>(p.M * p.N));
  d.fill_bytes(0x5a);
  if constexpr (std::is_same_v<T, int32_t>) {
    int8_gemm(a.get(), b.get(), d.get(), p.M, p.N, p.K, nullptr);
  } else {
    const Int8Epilogue epilogue{with_bias ? bias.get() : nullptr, scale.get(), lo, hi};
    if constexpr (std::is_same_v<T, int8_t>) {
      if (tile) {
        EXPECT_TRUE(int8_gemm_tile(a.get(), b.get(), d.get(), p.M, p.N, p.K, epilogue, *tile, nullptr));
        return d.to_host();
      }
    }
    int8_gemm(a.get(), b.get(), d.get(), p.M, p.N, p.K, epilogue, nullptr);
  }
  return d.to_host();
}

// The outputs with a residual sum (bias, int8 c in [-128, 127]): Int8Add's arithmetic `r` over c and z.
template <class T>
std::vector<T> run_with_residual(const Problem& p, const std::vector<int8_t>& z, const int8::AddRequantizer& r,
                                 std::optional<Int8GemmTile> tile = {}) {
  DeviceBuffer<int8_t> a(p.a), b(p.b), zd(z);
  DeviceBuffer<int32_t> bias(p.bias);
  DeviceBuffer<float> scale(p.scale);
  DeviceBuffer<T> d(static_cast<size_t>(p.M * p.N));
  d.fill_bytes(0x5a);
  Int8Epilogue epilogue{bias.get(), scale.get(), -128.0f, 127.0f};
  epilogue.residual = Int8Residual{zd.get(), r.ra, r.rb, r.clamped ? r.lo : -kInf, r.clamped ? r.hi : kInf};
  if constexpr (std::is_same_v<T, int8_t>) {
    if (tile) {
      EXPECT_TRUE(int8_gemm_tile(a.get(), b.get(), d.get(), p.M, p.N, p.K, epilogue, *tile, nullptr));
      return d.to_host();
    }
  }
  int8_gemm(a.get(), b.get(), d.get(), p.M, p.N, p.K, epilogue, nullptr);
  return d.to_host();
}

// Exact int32 accumulators (no bias) on the CPU.
std::vector<int32_t> cpu_accumulators(const Problem& p) {
  std::vector<int32_t> acc(static_cast<size_t>(p.M * p.N));
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      int32_t sum = 0;
      for (int64_t k = 0; k < p.K; ++k) sum += int32_t(p.a[m * p.K + k]) * int32_t(p.b[n * p.K + k]);
      acc[m * p.N + n] = sum;
    }
  return acc;
}

std::vector<int8_t> cpu_int8(const Problem& p, const std::vector<int32_t>& acc, bool with_bias, int32_t lo, int32_t hi) {
  std::vector<int8_t> out(acc.size());
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      const int32_t biased = with_bias ? int8::add_bias(acc[m * p.N + n], p.bias[n]) : acc[m * p.N + n];
      out[m * p.N + n] = int8::requantize(biased, p.scale[n], lo, hi);
    }
  return out;
}

std::vector<float> cpu_float(const Problem& p, const std::vector<int32_t>& acc, bool with_bias,
                             const int8::Activation& activation) {
  std::vector<float> out(acc.size());
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      const int32_t biased = with_bias ? int8::add_bias(acc[m * p.N + n], p.bias[n]) : acc[m * p.N + n];
      out[m * p.N + n] = activation.apply(int8::scaled(biased, p.scale[n]));
    }
  return out;
}

// Float bounds of an activation, as the engine passes them (kernels/cuda/int8_kernels.cpp).
float float_lo(const int8::Activation& a) {
  return a.kind == int8::Activation::kRelu ? 0.0f : a.kind == int8::Activation::kClip ? a.clip_min : -kInf;
}
float float_hi(const int8::Activation& a) { return a.kind == int8::Activation::kClip ? a.clip_max : kInf; }

// Element-for-element equality (floats by bit pattern: -0 and +0 differ), reporting the first few misses.
template <class T>
void expect_same(const std::vector<T>& expected, const std::vector<T>& actual, int64_t N) {
  ASSERT_EQ(expected.size(), actual.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::memcmp(&expected[i], &actual[i], sizeof(T)) == 0) continue;
    if (++mismatches <= 5)
      ADD_FAILURE() << "element (" << i / N << ", " << i % N << "): expected " << +expected[i] << ", got "
                    << +actual[i];
  }
  EXPECT_EQ(mismatches, 0u) << "of " << expected.size() << " elements";
}

// ---------------------------------------------------------------------------
// Hand-checked outputs: acc[n] is put in the bias (A all ones, B all zeros), so any int32
// accumulator can be written down. Three paths: the plain kernel, CUTLASS's (K = 16,
// columns padded to 16) and the shallow mma.sync kernel's (K = 32, columns padded to 64).
enum class GemmPath { kPlain, kCutlass, kShallow };
const GemmPath kGemmPaths[] = {GemmPath::kPlain, GemmPath::kCutlass, GemmPath::kShallow};
const char* path_name(GemmPath path) {
  return path == GemmPath::kPlain ? "plain path" : path == GemmPath::kCutlass ? "CUTLASS path" : "shallow path";
}
// A problem's K on `path` (plain_depth on the plain one), and its columns padded for it.
int64_t path_depth(GemmPath path, int64_t plain_depth) {
  return path == GemmPath::kPlain ? plain_depth : path == GemmPath::kCutlass ? 16 : 32;
}
int64_t path_columns(GemmPath path, int64_t columns) {
  const int64_t multiple = path == GemmPath::kPlain ? 1 : path == GemmPath::kCutlass ? 16 : 64;
  return (columns + multiple - 1) / multiple * multiple;
}

Problem bias_only_problem(const std::vector<int32_t>& acc, float scale, GemmPath path) {
  Problem p;
  p.M = 3;
  p.N = path_columns(path, static_cast<int64_t>(acc.size()));
  p.K = path_depth(path, 3);
  p.a.assign(static_cast<size_t>(p.M * p.K), 1);
  p.b.assign(static_cast<size_t>(p.N * p.K), 0);
  p.bias = acc;
  p.bias.resize(static_cast<size_t>(p.N), 0);
  p.scale.assign(static_cast<size_t>(p.N), scale);
  return p;
}

void expect_table(const std::vector<int32_t>& acc, float scale, int32_t lo, int32_t hi,
                  const std::vector<int8_t>& expected) {
  for (const GemmPath path : kGemmPaths) {
    SCOPED_TRACE(path_name(path));
    const Problem p = bias_only_problem(acc, scale, path);
    ASSERT_EQ(int8_gemm_uses_tensor_cores(p.M, p.N, p.K), path != GemmPath::kPlain);
    const std::vector<int8_t> out = run_on_gpu<int8_t>(p, true, float(lo), float(hi));
    for (int64_t m = 0; m < p.M; ++m)
      for (size_t n = 0; n < expected.size(); ++n)
        EXPECT_EQ(+out[m * p.N + n], +expected[n]) << "row " << m << ", acc " << acc[n];
  }
}

TEST(CudaInt8Gemm, TiesRoundHalfToEven) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  expect_table({1, 3, -1, -3, 5, -5, 7}, 0.5f, -128, 127, {0, 2, 0, -2, 2, -2, 4});
}

TEST(CudaInt8Gemm, SaturatesAtBothEnds) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  expect_table({400, -400, 254, 256, -256, -258}, 0.5f, -128, 127, {127, -128, 127, 127, -128, -128});
}

TEST(CudaInt8Gemm, ReluBounds) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  expect_table({-6, 6, 0, -1, 1, 3}, 0.5f, 0, 127, {0, 3, 0, 0, 0, 2});
}

TEST(CudaInt8Gemm, ClipBounds) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  expect_table({100, -100, 30, -21, 41}, 0.5f, -10, 20, {20, -10, 15, -10, 20});
}

// The bias add saturates to int32 instead of wrapping: with scale 2^-25 the saturated
// accumulators give exactly +-64 (float(INT32_MAX) = 2^31); wrapped ones would flip sign.
TEST(CudaInt8Gemm, BiasAddSaturates) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const int32_t kMax = std::numeric_limits<int32_t>::max(), kMin = std::numeric_limits<int32_t>::min();
  for (const GemmPath path : kGemmPaths) {
    SCOPED_TRACE(path_name(path));
    Problem p;
    p.M = 2, p.N = path_columns(path, 5), p.K = path_depth(path, 16);
    p.a.assign(static_cast<size_t>(p.M * p.K), 127);
    // Columns: +sum with INT32_MAX, -sum with INT32_MIN, +sum near the top, -sum near the
    // bottom, +sum with a large negative bias (no saturation); the rest bias 0.
    const int8_t sign[5] = {1, -1, 1, -1, 1};
    const int32_t bias[5] = {kMax, kMin, kMax - 1000, kMin + 1000, -kMax};
    p.bias.assign(static_cast<size_t>(p.N), 0);
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t k = 0; k < p.K; ++k) p.b.push_back(n < 5 ? int8_t(127 * sign[n]) : int8_t(n - 8));
    for (int n = 0; n < 5; ++n) p.bias[n] = bias[n];
    p.scale.assign(static_cast<size_t>(p.N), std::ldexp(1.0f, -25));
    ASSERT_EQ(int8_gemm_uses_tensor_cores(p.M, p.N, p.K), path != GemmPath::kPlain);

    const std::vector<int32_t> acc = cpu_accumulators(p);
    const std::vector<int8_t> out8 = run_on_gpu<int8_t>(p, true, -128.0f, 127.0f);
    expect_same(cpu_int8(p, acc, true, -128, 127), out8, p.N);
    const std::vector<float> outf = run_on_gpu<float>(p, true, -kInf, kInf);
    expect_same(cpu_float(p, acc, true, int8::Activation{}), outf, p.N);
    for (int64_t m = 0; m < p.M; ++m) {
      EXPECT_EQ(out8[m * p.N + 0], 64);
      EXPECT_EQ(out8[m * p.N + 1], -64);
      EXPECT_EQ(out8[m * p.N + 2], 64);
      EXPECT_EQ(out8[m * p.N + 3], -64);
      EXPECT_EQ(outf[m * p.N + 0], 64.0f);
      EXPECT_EQ(outf[m * p.N + 1], -64.0f);
    }
  }
}

// ---------------------------------------------------------------------------
// Random problems: weights in [-127, 127], activations in [-128, 127], biases and scales
// that put the outputs a few hundred LSBs around zero (rounding and saturation both
// occur); column 0 has scale 0 (signed zeros in float output).

Problem random_problem(int64_t M, int64_t N, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> activation(-128, 127), weight(-127, 127);
  Problem p;
  p.M = M, p.N = N, p.K = K;
  for (int64_t i = 0; i < M * K; ++i) p.a.push_back(static_cast<int8_t>(activation(rng)));
  for (int64_t i = 0; i < N * K; ++i) p.b.push_back(static_cast<int8_t>(weight(rng)));
  const double spread = std::max(1.0, std::sqrt(double(K)) * 127.0 * 127.0 / 3.0);
  std::uniform_int_distribution<int32_t> bias(-int32_t(spread), int32_t(spread));
  std::uniform_real_distribution<double> scale(0.5, 1.5);
  for (int64_t n = 0; n < N; ++n) {
    p.bias.push_back(bias(rng));
    p.scale.push_back(n == 0 ? 0.0f : static_cast<float>(scale(rng) * 150.0 / spread));
  }
  return p;
}

// The engine replays kernels from CUDA graphs: int8_gemm must be capturable (no
// allocation or synchronisation inside) and give the same results when replayed.
TEST(CudaInt8Gemm, CapturesIntoCudaGraph) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const GemmPath path : kGemmPaths) {
    SCOPED_TRACE(path_name(path));
    const Problem p = path == GemmPath::kPlain     ? random_problem(9, 20, 30, 11)
                      : path == GemmPath::kCutlass ? random_problem(200, 96, 80, 11)
                                                   : random_problem(200, 128, 64, 11);
    ASSERT_EQ(int8_gemm_uses_tensor_cores(p.M, p.N, p.K), path != GemmPath::kPlain);
    DeviceBuffer<int8_t> a(p.a), b(p.b);
    DeviceBuffer<int32_t> bias(p.bias);
    DeviceBuffer<float> scale(p.scale);
    DeviceBuffer<int8_t> d(static_cast<size_t>(p.M * p.N));
    d.fill_bytes(0x5a);
    cudaStream_t stream;
    OCTET_CUDA_CHECK(cudaStreamCreate(&stream));
    cudaGraph_t graph;
    OCTET_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    int8_gemm(a.get(), b.get(), d.get(), p.M, p.N, p.K, Int8Epilogue{bias.get(), scale.get(), -128.0f, 127.0f}, stream);
    OCTET_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec;
    OCTET_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    OCTET_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream));
    OCTET_CUDA_CHECK(cudaGraphExecDestroy(exec));
    OCTET_CUDA_CHECK(cudaGraphDestroy(graph));
    OCTET_CUDA_CHECK(cudaStreamDestroy(stream));
    expect_same(cpu_int8(p, cpu_accumulators(p), true, -128, 127), d.to_host(), p.N);
  }
}

struct Shape {
  int64_t M, N, K;
  bool tensor_cores;
};

std::string shape_name(const ::testing::TestParamInfo<Shape>& info) {
  const Shape& s = info.param;
  return std::string(s.tensor_cores ? "TensorCores_" : "Plain_") + std::to_string(s.M) + "x" + std::to_string(s.N) +
         "x" + std::to_string(s.K);
}

class CudaInt8GemmRandom : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaInt8GemmRandom, MatchesReferenceExactly) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Shape s = GetParam();
  ASSERT_EQ(int8_gemm_uses_tensor_cores(s.M, s.N, s.K), s.tensor_cores);
  const Problem p = random_problem(s.M, s.N, s.K, static_cast<uint32_t>(s.M * 31 + s.N * 7 + s.K));
  const std::vector<int32_t> acc = cpu_accumulators(p);
  {
    SCOPED_TRACE("int32 output");
    expect_same(acc, run_on_gpu<int32_t>(p, false, 0, 0), p.N);
  }
  {
    SCOPED_TRACE("int8 output, bias, no activation");
    expect_same(cpu_int8(p, acc, true, -128, 127), run_on_gpu<int8_t>(p, true, -128.0f, 127.0f), p.N);
  }
  {
    SCOPED_TRACE("int8 output, no bias, relu");
    expect_same(cpu_int8(p, acc, false, 0, 127), run_on_gpu<int8_t>(p, false, 0.0f, 127.0f), p.N);
  }
  {
    SCOPED_TRACE("int8 output, bias, clip [-20, 90]");
    expect_same(cpu_int8(p, acc, true, -20, 90), run_on_gpu<int8_t>(p, true, -20.0f, 90.0f), p.N);
  }
  {
    // The residual sum of a fused Int8Conv -> Int8Add: ratios 0.5 and 0.75 make ties; relu bounds.
    const std::vector<int8_t> c = cpu_int8(p, acc, true, -128, 127);
    std::vector<int8_t> z(c.size());
    std::mt19937 rng(static_cast<uint32_t>(s.M + s.N));
    for (auto& v : z) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    int8::AddRequantizer r;
    r.ra = 0.5f, r.rb = 0.75f, r.clamped = true, r.lo = 0.0f, r.hi = 127.0f;
    std::vector<int8_t> want(c.size());
    for (size_t i = 0; i < c.size(); ++i) want[i] = r.to_int8(c[i], z[i]);
    SCOPED_TRACE("int8 output, bias, residual sum, relu");
    expect_same(want, run_with_residual<int8_t>(p, z, r), p.N);
    r.ra = 0.3721f, r.rb = 1.137f, r.lo = -128.0f, r.hi = 127.0f;
    for (size_t i = 0; i < c.size(); ++i) want[i] = r.to_int8(c[i], z[i]);
    SCOPED_TRACE("int8 output, bias, residual sum, no activation");
    expect_same(want, run_with_residual<int8_t>(p, z, r), p.N);
    r.output_dtype = DType::kFloat32, r.clamped = false;
    std::vector<float> want_float(c.size());
    for (size_t i = 0; i < c.size(); ++i) want_float[i] = r.to_float(c[i], z[i]);
    SCOPED_TRACE("float output, bias, residual sum");
    expect_same(want_float, run_with_residual<float>(p, z, r), p.N);
  }
  const int8::Activation none{}, relu{int8::Activation::kRelu};
  const int8::Activation clip{int8::Activation::kClip, -25.5f, 61.25f};
  for (const int8::Activation& activation : {none, relu, clip}) {
    SCOPED_TRACE("float output, bias, activation " + std::to_string(int(activation.kind)));
    expect_same(cpu_float(p, acc, true, activation),
                run_on_gpu<float>(p, true, float_lo(activation), float_hi(activation)), p.N);
  }
}

// Every tensor-core configuration (int8_gemm_tile), which int8_gemm may not pick for a shape, forced on one
// with partial tiles along M, N and K: int8 outputs with bias and relu, and with a
// residual sum, element for element the reference.
TEST(CudaInt8Gemm, EveryTileMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!int8_gemm_uses_tensor_cores(1, 16, 16)) GTEST_SKIP() << "the tensor-core configurations need an sm_90 GPU";
  const Problem p = random_problem(1000, 272, 208, 77);
  const std::vector<int32_t> acc = cpu_accumulators(p);
  const std::vector<int8_t> want = cpu_int8(p, acc, true, 0, 127), c = cpu_int8(p, acc, true, -128, 127);
  std::vector<int8_t> z(c.size()), want_sum(c.size());
  std::mt19937 rng(78);
  for (auto& v : z) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  int8::AddRequantizer r;
  r.ra = 0.5f, r.rb = 0.75f, r.clamped = true, r.lo = 0.0f, r.hi = 127.0f;
  for (size_t i = 0; i < c.size(); ++i) want_sum[i] = r.to_int8(c[i], z[i]);
  for (Int8GemmTile tile : kInt8GemmTiles) {
    SCOPED_TRACE(int8_gemm_tile_name(tile));
    expect_same(want, run_on_gpu<int8_t>(p, true, 0.0f, 127.0f, tile), p.N);
    expect_same(want_sum, run_with_residual<int8_t>(p, z, r, tile), p.N);
  }
  // Shapes and operands the tensor cores cannot take are declined, nothing launched.
  const DeviceBuffer<float> scale(std::vector<float>(24, 0.01f));
  const DeviceBuffer<int8_t> buffer(std::vector<int8_t>(4096, 0));
  const Int8Epilogue epilogue{nullptr, scale.get(), -128.0f, 127.0f};
  int8_t* any = buffer.get();
  EXPECT_FALSE(int8_gemm_tile(any, any, any, 8, 24, 32, epilogue, kInt8GemmTiles[0], nullptr));  // N = 24
  EXPECT_FALSE(int8_gemm_tile(any, any, any, 8, 32, 24, epilogue, kInt8GemmTiles[0], nullptr));  // K = 24
  EXPECT_FALSE(int8_gemm_tile(any + 1, any, any, 8, 32, 32, epilogue, kInt8GemmTiles[0], nullptr));  // A misaligned
}

// On an H200: K of 32, 64 or 128 with N of 64, 128 or 256 (256x128x64, 1x64x32,
// 16384x256x64, 20000x64x128) take the shallow mma.sync kernel for int8 outputs
// without a residual, CUTLASS's otherwise; of CUTLASS's configurations,
// 1573x2832x400 fills the GPU with 128x256 tiles and has K > 256 (the large-tile
// configuration), 16381x272x48 the shallow wide one, 20000 rows with N = 64, 112 the
// narrow ones; the other tensor-core shapes take the 64x128 tiles. M, N and K leave
// partial tiles.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaInt8GemmRandom,
                         ::testing::Values(Shape{1000, 256, 512, true}, Shape{256, 128, 64, true},
                                           Shape{1, 64, 32, true}, Shape{1573, 2832, 400, true},
                                           Shape{20000, 64, 96, true}, Shape{20000, 64, 128, true},
                                           Shape{20000, 112, 160, true},
                                           Shape{16384, 256, 64, true}, Shape{16381, 272, 48, true},
                                           Shape{7, 10, 800, false}, Shape{3, 13, 27, false},
                                           Shape{5, 16, 0, false}, Shape{64, 24, 40, false}),
                         shape_name);

}  // namespace
}  // namespace octet::cuda
