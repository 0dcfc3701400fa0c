// The CUDA backend's elementwise, transpose, pooling, im2col and direct-convolution
// kernels (cuda_ops.h) against CPU computations written from the reference kernels
// and requantize.h. Every comparison is bit for bit: the kernels reproduce the
// reference's float operations one by one, in the same order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/int8_conv.h"
#include "kernels/cuda/cuda_test_support.h"
#include "kernels/reference/int8/requantize.h"
#include "octet/error.h"

namespace octet::cuda {
namespace {

using testing::DeviceBuffer;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kPoison = 0x5a;

// ---------------------------------------------------------------------------
// Helpers

std::vector<int8_t> random_int8(size_t n, uint32_t seed, int lo = -128, int hi = 127) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& e : v) e = static_cast<int8_t>(dist(rng));
  return v;
}

std::vector<float> random_float(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& e : v) e = dist(rng);
  return v;
}

// Same bits in every element (NaN equals NaN, -0 differs from +0); names the first mismatches.
template <class T>
void expect_bitwise_equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) == 0) continue;
    ++mismatches;
    if (reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << +got[i] << ", expected " << +want[i];
  }
  EXPECT_EQ(mismatches, 0u) << what << ": " << mismatches << " of " << got.size() << " elements differ";
}

// `values` on the device starting `offset` elements into a buffer, to test unaligned pointers.
template <class T>
struct OffsetBuffer {
  OffsetBuffer(const std::vector<T>& values, size_t offset) : offset(offset), buffer(with_prefix(values, offset)) {}
  explicit OffsetBuffer(size_t count, size_t offset) : offset(offset), buffer(count + offset) {
    buffer.fill_bytes(kPoison);
  }
  T* get() const { return buffer.get() + offset; }
  std::vector<T> to_host() const {
    const std::vector<T> all = buffer.to_host();
    return std::vector<T>(all.begin() + static_cast<std::ptrdiff_t>(offset), all.end());
  }

  size_t offset;
  DeviceBuffer<T> buffer;

 private:
  static std::vector<T> with_prefix(const std::vector<T>& values, size_t offset) {
    std::vector<T> all(offset, T{});
    all.insert(all.end(), values.begin(), values.end());
    return all;
  }
};

// Element offsets that give 16-byte-aligned, 4-byte-aligned and unaligned pointers.
const std::vector<size_t> kOffsets = {0, 4, 1};

// ---------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

std::vector<int8_t> run_quantize(const std::vector<float>& x, float scale, size_t x_offset, size_t y_offset) {
  const OffsetBuffer<float> dx(x, x_offset);
  const OffsetBuffer<int8_t> dy(x.size(), y_offset);
  quantize_int8(dx.get(), dy.get(), static_cast<int64_t>(x.size()), scale, nullptr);
  return dy.to_host();
}

TEST(CudaOpsTest, QuantizeRoundsHalfToEvenAndSaturates) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, 128.0f,
                                -128.5f, -129.0f, 1e30f, -1e30f, kInf, -kInf, nan};
  const std::vector<int8_t> want = {0, 2, 2, 0, -2, -2, 126, 127, 127, -128, -128, 127, -128, 127, -128, -128};
  expect_bitwise_equal(run_quantize(x, 1.0f, 0, 0), want, "quantize, scale 1");
  // The same ties through a division: x / 0.25.
  std::vector<float> quarter(x.size());
  for (size_t i = 0; i < x.size(); ++i) quarter[i] = x[i] * 0.25f;
  expect_bitwise_equal(run_quantize(quarter, 0.25f, 0, 0), want, "quantize, scale 0.25");
}

TEST(CudaOpsTest, QuantizeMatchesReferenceAtEveryAlignment) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const float scale = 0.0473f;
  std::vector<float> x = random_float(4099, 1, -8.0f, 8.0f);
  // Exact ties of x / scale for a power-of-two scale are covered above; here values
  // near them and beyond the int8 range.
  for (size_t i = 0; i < x.size(); i += 7) x[i] = (static_cast<float>(i % 300) - 150.0f + 0.5f) * scale;
  std::vector<int8_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = int8::quantize(x[i], scale);
  for (size_t offset : kOffsets)
    expect_bitwise_equal(run_quantize(x, scale, offset, offset), want, "quantize, offset " + std::to_string(offset));
  expect_bitwise_equal(run_quantize(x, scale, 0, 1), want, "quantize, unaligned output");
}

TEST(CudaOpsTest, DequantizeMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const float scale = 0.0371f;
  std::vector<int8_t> x = random_int8(1000, 2);
  for (int q = -128; q <= 127; ++q) x.push_back(static_cast<int8_t>(q));
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = int8::scaled(x[i], scale);
  for (size_t offset : kOffsets) {
    const OffsetBuffer<int8_t> dx(x, offset);
    const OffsetBuffer<float> dy(x.size(), offset);
    dequantize_int8(dx.get(), dy.get(), static_cast<int64_t>(x.size()), scale, nullptr);
    expect_bitwise_equal(dy.to_host(), want, "dequantize, offset " + std::to_string(offset));
  }
}

// ---------------------------------------------------------------------------
// Int8Add

std::vector<int8_t> run_add_int8(const std::vector<int8_t>& a, const std::vector<int8_t>& b, float ra, float rb,
                                 float lo, float hi, size_t offset = 0) {
  const OffsetBuffer<int8_t> da(a, offset), db(b, offset);
  const OffsetBuffer<int8_t> dy(a.size(), offset);
  int8_add(da.get(), db.get(), dy.get(), static_cast<int64_t>(a.size()), ra, rb, lo, hi, nullptr);
  return dy.to_host();
}

TEST(CudaOpsTest, Int8AddRoundsTiesToEvenAndSaturates) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  // 0.5 * a + 0.5 * b: the worked ties of docs/int8_kernels.md.
  const std::vector<int8_t> a = {1, 3, 5, -1, -3, -5, 7, 0, 127, -128};
  const std::vector<int8_t> b = {0, 0, 0, 0, 0, 0, 0, 1, 127, -128};
  expect_bitwise_equal(run_add_int8(a, b, 0.5f, 0.5f, -128, 127), {0, 2, 2, 0, -2, -2, 4, 0, 127, -128}, "ties");
  expect_bitwise_equal(run_add_int8(a, b, 0.5f, 0.5f, 0, 127), {0, 2, 2, 0, 0, 0, 4, 0, 127, 0}, "ties, relu");
  expect_bitwise_equal(run_add_int8(a, b, 1.0f, 1.0f, -128, 127), {1, 3, 5, -1, -3, -5, 7, 1, 127, -128},
                       "saturation");
}

TEST(CudaOpsTest, Int8AddMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const size_t n = 5003;
  const std::vector<int8_t> a = random_int8(n, 3), b = random_int8(n, 4);
  const float a_scale = 0.031f, b_scale = 0.047f, y_scale = 0.052f;
  const float ra = int8::scale_ratio(a_scale, y_scale), rb = int8::scale_ratio(b_scale, y_scale);
  const int8::Activation clip{int8::Activation::kClip, -1.3f, 2.9f};
  const int32_t lo = clip.int8_lo(y_scale), hi = clip.int8_hi(y_scale);
  std::vector<int8_t> want(n);
  for (size_t i = 0; i < n; ++i)
    want[i] = int8::saturate(int8::round_half_even(int8::scaled(a[i], ra) + int8::scaled(b[i], rb)), lo, hi);
  for (size_t offset : kOffsets)
    expect_bitwise_equal(run_add_int8(a, b, ra, rb, static_cast<float>(lo), static_cast<float>(hi), offset), want,
                         "int8 output, offset " + std::to_string(offset));

  for (const int8::Activation& activation : {int8::Activation{}, clip}) {
    const bool clipped = activation.kind == int8::Activation::kClip;
    std::vector<float> want_float(n);
    for (size_t i = 0; i < n; ++i)
      want_float[i] = activation.apply(int8::scaled(a[i], a_scale) + int8::scaled(b[i], b_scale));
    for (size_t offset : kOffsets) {
      const OffsetBuffer<int8_t> da(a, offset), db(b, offset);
      const OffsetBuffer<float> dy(n, offset);
      int8_add(da.get(), db.get(), dy.get(), static_cast<int64_t>(n), a_scale, b_scale,
               clipped ? activation.clip_min : -kInf, clipped ? activation.clip_max : kInf, nullptr);
      expect_bitwise_equal(dy.to_host(), want_float,
                           std::string("float output, ") + (clipped ? "clip" : "none") + ", offset " +
                               std::to_string(offset));
    }
  }
}

// ---------------------------------------------------------------------------
// Transpose

template <class T>
std::vector<T> transpose_on_cpu(const std::vector<T>& x, const int64_t d[4], const int perm[4]) {
  int64_t stride[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
  const int64_t od[4] = {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]};
  std::vector<T> y(x.size());
  size_t i = 0;
  for (int64_t a = 0; a < od[0]; ++a)
    for (int64_t b = 0; b < od[1]; ++b)
      for (int64_t c = 0; c < od[2]; ++c)
        for (int64_t e = 0; e < od[3]; ++e)
          y[i++] = x[a * stride[perm[0]] + b * stride[perm[1]] + c * stride[perm[2]] + e * stride[perm[3]]];
  return y;
}

template <class T>
void check_transpose(std::vector<int64_t> dims, std::vector<int> perm) {
  const std::vector<int8_t> bytes = random_int8(static_cast<size_t>(dims[0] * dims[1] * dims[2] * dims[3]) * sizeof(T), 5);
  std::vector<T> x(bytes.size() / sizeof(T));
  std::memcpy(x.data(), bytes.data(), bytes.size());
  const DeviceBuffer<T> dx(x);
  DeviceBuffer<T> dy(x.size());
  dy.fill_bytes(kPoison);
  transpose4d(dx.get(), dy.get(), dims.data(), perm.data(), sizeof(T), nullptr);
  std::string what = std::to_string(sizeof(T)) + "-byte transpose of [";
  for (int64_t d : dims) what += std::to_string(d) + ",";
  what += "] by {";
  for (int p : perm) what += std::to_string(p) + ",";
  expect_bitwise_equal(dy.to_host(), transpose_on_cpu(x, dims.data(), perm.data()), what + "}");
}

TEST(CudaOpsTest, TransposeNchwToNhwc) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  // [2, 40, 5, 7]: 40 x 35 matrices, tiled (partial tiles); 2, 3 and 4 channels: the
  // few-rows kernel; 5 channels: the plain kernel.
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{2, 40, 5, 7}, std::vector<int64_t>{2, 3, 9, 11}, std::vector<int64_t>{3, 2, 4, 5},
        std::vector<int64_t>{1, 4, 7, 3}, std::vector<int64_t>{2, 5, 3, 3}}) {
    check_transpose<uint8_t>(dims, {0, 2, 3, 1});
    check_transpose<uint32_t>(dims, {0, 2, 3, 1});
  }
}

TEST(CudaOpsTest, TransposeNhwcToNchw) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{2, 6, 7, 48}, std::vector<int64_t>{2, 5, 6, 3}}) {
    check_transpose<uint8_t>(dims, {0, 3, 1, 2});
    check_transpose<uint32_t>(dims, {0, 3, 1, 2});
  }
}

TEST(CudaOpsTest, TransposeOtherPermutations) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  check_transpose<uint16_t>({3, 4, 5, 6}, {3, 1, 0, 2});
  check_transpose<uint8_t>({3, 4, 5, 6}, {1, 0, 2, 3});
  check_transpose<uint32_t>({33, 2, 3, 40}, {1, 2, 3, 0});  // one 33 x 240 matrix, tiled
  check_transpose<uint16_t>({3, 4, 5, 6}, {0, 1, 2, 3});
  int64_t dims[4] = {1, 2, 3, 4};
  int not_a_permutation[4] = {0, 1, 1, 2};
  EXPECT_THROW(transpose4d(nullptr, nullptr, dims, not_a_permutation, 1, nullptr), Error);
}

// ---------------------------------------------------------------------------
// Pooling

// The reference's output size (spatial.h's sliding_output_shape, with ceil_mode).
int64_t pooled_size(int64_t in, int k, int stride, int pad_begin, int pad_end, int dilation, bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - (int64_t{k} - 1) * dilation - 1;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

struct Window {
  int kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w;
  bool ceil_mode = false;
};

Pool2d pool_geometry(int64_t n, int64_t h, int64_t w, int64_t c, const Window& win) {
  Pool2d p{};
  p.n = n, p.h = h, p.w = w, p.c = c;
  p.kh = win.kh, p.kw = win.kw, p.stride_h = win.stride_h, p.stride_w = win.stride_w;
  p.pad_t = win.pad_t, p.pad_l = win.pad_l, p.pad_b = win.pad_b, p.pad_r = win.pad_r;
  p.dil_h = win.dil_h, p.dil_w = win.dil_w;
  p.oh = pooled_size(h, win.kh, win.stride_h, win.pad_t, win.pad_b, win.dil_h, win.ceil_mode);
  p.ow = pooled_size(w, win.kw, win.stride_w, win.pad_l, win.pad_r, win.dil_w, win.ceil_mode);
  return p;
}

int64_t numel_in(const Pool2d& p) { return p.n * p.h * p.w * p.c; }
int64_t numel_out(const Pool2d& p) { return p.n * p.oh * p.ow * p.c; }

// Calls visit(input offset) for each valid tap of output (n, oh, ow, c), in tap order.
void for_each_tap(const Pool2d& p, int64_t n, int64_t oh, int64_t ow, int64_t c, const std::function<void(int64_t)>& visit) {
  for (int r = 0; r < p.kh; ++r)
    for (int s = 0; s < p.kw; ++s) {
      const int64_t ih = oh * p.stride_h - p.pad_t + r * p.dil_h, iw = ow * p.stride_w - p.pad_l + s * p.dil_w;
      if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) visit(((n * p.h + ih) * p.w + iw) * p.c + c);
    }
}

// pool.cpp's MaxPool: lowest for a window over padding only, else the first valid
// tap, replaced only by a strictly greater value.
template <class T>
std::vector<T> max_pool_on_cpu(const std::vector<T>& x, const Pool2d& p) {
  std::vector<T> y;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.oh; ++oh)
      for (int64_t ow = 0; ow < p.ow; ++ow)
        for (int64_t c = 0; c < p.c; ++c) {
          T best = std::numeric_limits<T>::lowest();
          bool first = true;
          for_each_tap(p, n, oh, ow, c, [&](int64_t offset) {
            if (first || x[offset] > best) best = x[offset];
            first = false;
          });
          y.push_back(best);
        }
  return y;
}

// pool.cpp's AveragePool: a zero-started sum in tap order, divided by the count of
// taps inside the input (or the padded input with count_include_pad).
std::vector<float> avg_pool_on_cpu(const std::vector<float>& x, const Pool2d& p, bool count_include_pad) {
  const auto inside = [](int64_t o, int stride, int pad_begin, int dilation, int k, int64_t lo, int64_t hi) {
    int64_t count = 0;
    for (int i = 0; i < k; ++i) {
      const int64_t coord = o * stride - pad_begin + i * dilation;
      count += coord >= lo && coord < hi;
    }
    return count;
  };
  std::vector<float> y;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.oh; ++oh)
      for (int64_t ow = 0; ow < p.ow; ++ow)
        for (int64_t c = 0; c < p.c; ++c) {
          float sum = 0.0f;
          for_each_tap(p, n, oh, ow, c, [&](int64_t offset) { sum += x[offset]; });
          const int64_t divisor =
              inside(oh, p.stride_h, p.pad_t, p.dil_h, p.kh, count_include_pad ? -p.pad_t : 0,
                     p.h + (count_include_pad ? p.pad_b : 0)) *
              inside(ow, p.stride_w, p.pad_l, p.dil_w, p.kw, count_include_pad ? -p.pad_l : 0,
                     p.w + (count_include_pad ? p.pad_r : 0));
          y.push_back(sum / static_cast<float>(divisor));
        }
  return y;
}

template <class T>
std::vector<T> run_max_pool(const std::vector<T>& x, const Pool2d& p) {
  const DeviceBuffer<T> dx(x);
  DeviceBuffer<T> dy(static_cast<size_t>(numel_out(p)));
  dy.fill_bytes(kPoison);
  if constexpr (std::is_same_v<T, int8_t>)
    max_pool_nhwc_int8(dx.get(), dy.get(), p, nullptr);
  else
    max_pool_nhwc_f32(dx.get(), dy.get(), p, nullptr);
  return dy.to_host();
}

std::vector<float> run_avg_pool(const std::vector<float>& x, const Pool2d& p, bool count_include_pad) {
  const DeviceBuffer<float> dx(x);
  DeviceBuffer<float> dy(static_cast<size_t>(numel_out(p)));
  dy.fill_bytes(kPoison);
  avg_pool_nhwc_f32(dx.get(), dy.get(), p, count_include_pad, nullptr);
  return dy.to_host();
}

// Windows with padding, strides, dilation and ceil mode; with C = 64, 32, 20, 8, 3
// the kernels take 16-, 4- and 1-lane packs.
const std::vector<Window> kWindows = {
    {3, 3, 2, 2, 1, 1, 1, 1, 1, 1},           // ResNet's stem pool
    {2, 3, 1, 2, 2, 1, 0, 1, 2, 2},           // dilated, asymmetric pads
    {3, 2, 2, 3, 0, 1, 1, 0, 1, 1, true},     // ceil mode: windows past the end pads
};
const std::vector<int64_t> kPoolChannels = {64, 32, 20, 8, 3};

TEST(CudaOpsTest, MaxPoolHandTable) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  // x[h][w] = -(4h + w + 1) over 4x4; 3x3 windows, stride 2, pad 1: padding never wins.
  std::vector<int8_t> x(16);
  for (int i = 0; i < 16; ++i) x[i] = static_cast<int8_t>(-(i + 1));
  const Pool2d p = pool_geometry(1, 4, 4, 1, {3, 3, 2, 2, 1, 1, 1, 1, 1, 1});
  ASSERT_EQ(p.oh, 2);
  ASSERT_EQ(p.ow, 2);
  expect_bitwise_equal(run_max_pool(x, p), {-1, -2, -5, -6}, "max pool hand table");
}

TEST(CudaOpsTest, MaxPoolOverPaddingOnlyGivesLowest) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  // H = 1, taps at rows -4 and 1: both outside the input.
  const Pool2d p = pool_geometry(1, 1, 1, 16, {2, 1, 1, 1, 4, 0, 1, 0, 5, 1});
  ASSERT_EQ(p.oh, 1);
  expect_bitwise_equal(run_max_pool(random_int8(16, 6), p), std::vector<int8_t>(16, -128), "int8");
  expect_bitwise_equal(run_max_pool(random_float(16, 6, -1, 1), p),
                       std::vector<float>(16, std::numeric_limits<float>::lowest()), "float");
}

TEST(CudaOpsTest, MaxPoolMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Window& win : kWindows)
    for (int64_t c : kPoolChannels) {
      const Pool2d p = pool_geometry(2, 9, 11, c, win);
      const std::string what = "kernel " + std::to_string(win.kh) + "x" + std::to_string(win.kw) + ", C " +
                               std::to_string(c);
      const std::vector<int8_t> xq = random_int8(static_cast<size_t>(numel_in(p)), 7);
      expect_bitwise_equal(run_max_pool(xq, p), max_pool_on_cpu(xq, p), "int8 " + what);
      // Float, with NaN, -inf and signed zeros: the first-valid-then-strictly-greater rule decides.
      std::vector<float> xf = random_float(static_cast<size_t>(numel_in(p)), 8, -4.0f, 4.0f);
      for (size_t i = 0; i < xf.size(); i += 13) xf[i] = std::numeric_limits<float>::quiet_NaN();
      for (size_t i = 5; i < xf.size(); i += 11) xf[i] = -kInf;
      for (size_t i = 3; i < xf.size(); i += 7) xf[i] = (i / 7) % 2 ? 0.0f : -0.0f;
      expect_bitwise_equal(run_max_pool(xf, p), max_pool_on_cpu(xf, p), "float " + what);
    }
}

TEST(CudaOpsTest, AveragePoolHandTable) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  // One row 1..5, windows of 2 with stride 2 (ceil mode: a third, partial window).
  const std::vector<float> x = {1, 2, 3, 4, 5};
  const Pool2d no_end_pad = pool_geometry(1, 1, 5, 1, {1, 2, 1, 2, 0, 0, 0, 0, 1, 1, true});
  ASSERT_EQ(no_end_pad.ow, 3);
  expect_bitwise_equal(run_avg_pool(x, no_end_pad, false), {1.5f, 3.5f, 5.0f}, "exclude pad");
  expect_bitwise_equal(run_avg_pool(x, no_end_pad, true), {1.5f, 3.5f, 5.0f}, "include pad, no end pad");
  const Pool2d end_pad = pool_geometry(1, 1, 5, 1, {1, 2, 1, 2, 0, 0, 0, 1, 1, 1});
  ASSERT_EQ(end_pad.ow, 3);
  expect_bitwise_equal(run_avg_pool(x, end_pad, false), {1.5f, 3.5f, 5.0f}, "exclude pad, end pad");
  expect_bitwise_equal(run_avg_pool(x, end_pad, true), {1.5f, 3.5f, 2.5f}, "include pad, end pad");
}

TEST(CudaOpsTest, AveragePoolMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Window& win : kWindows)
    for (int64_t c : kPoolChannels)
      for (bool count_include_pad : {false, true}) {
        const Pool2d p = pool_geometry(2, 9, 11, c, win);
        const std::vector<float> x = random_float(static_cast<size_t>(numel_in(p)), 9, -3.0f, 3.0f);
        expect_bitwise_equal(run_avg_pool(x, p, count_include_pad), avg_pool_on_cpu(x, p, count_include_pad),
                             "kernel " + std::to_string(win.kh) + "x" + std::to_string(win.kw) + ", C " +
                                 std::to_string(c) + (count_include_pad ? ", include pad" : ""));
      }
}

TEST(CudaOpsTest, GlobalAveragePoolMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const int64_t n = 3, hw = 49, c = 40;
  const std::vector<float> x = random_float(static_cast<size_t>(n * hw * c), 10, -5.0f, 5.0f);
  // The reference's float sum in HW order, then one division.
  std::vector<float> want;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      float sum = 0.0f;
      for (int64_t j = 0; j < hw; ++j) sum += x[(b * hw + j) * c + ch];
      want.push_back(sum / static_cast<float>(hw));
    }
  const DeviceBuffer<float> dx(x);
  DeviceBuffer<float> dy(static_cast<size_t>(n * c));
  dy.fill_bytes(kPoison);
  global_avg_pool_nhwc_f32(dx.get(), dy.get(), n, hw, c, nullptr);
  expect_bitwise_equal(dy.to_host(), want, "float");
}

// ---------------------------------------------------------------------------
// Convolution

Conv2d conv_geometry(int64_t n, int64_t h, int64_t w, int64_t c, int64_t m, int k_h, int k_w, int stride, int pad,
                     int dilation, int group) {
  Conv2d g{};
  g.n = n, g.h = h, g.w = w, g.c = c, g.m = m;
  g.kh = k_h, g.kw = k_w, g.stride_h = g.stride_w = stride, g.pad_t = g.pad_l = pad;
  g.dil_h = g.dil_w = dilation, g.group = group;
  g.oh = pooled_size(h, k_h, stride, pad, pad, dilation, false);
  g.ow = pooled_size(w, k_w, stride, pad, pad, dilation, false);
  return g;
}

// x [N, H, W, C] at (n, ih, iw, c), or the zero point 0 outside.
int32_t input_at(const std::vector<int8_t>& x, const Conv2d& g, int64_t n, int64_t ih, int64_t iw, int64_t c) {
  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return 0;
  return x[static_cast<size_t>(((n * g.h + ih) * g.w + iw) * g.c + c)];
}

std::vector<int8_t> im2col_on_cpu(const std::vector<int8_t>& x, const Conv2d& g, int64_t k_padded) {
  std::vector<int8_t> cols;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        for (int r = 0; r < g.kh; ++r)
          for (int s = 0; s < g.kw; ++s)
            for (int64_t c = 0; c < g.c; ++c)
              cols.push_back(static_cast<int8_t>(input_at(x, g, n, oh * g.stride_h - g.pad_t + r * g.dil_h,
                                                          ow * g.stride_w - g.pad_l + s * g.dil_w, c)));
        cols.resize(cols.size() + static_cast<size_t>(k_padded - g.kh * g.kw * g.c), 0);
      }
  return cols;
}

void check_im2col(const Conv2d& g, int64_t k_padded, size_t offset) {
  const std::vector<int8_t> x = random_int8(static_cast<size_t>(g.n * g.h * g.w * g.c), 12);
  const std::vector<int8_t> want = im2col_on_cpu(x, g, k_padded);
  const OffsetBuffer<int8_t> dx(x, offset);
  const OffsetBuffer<int8_t> dcols(want.size(), offset);
  im2col_nhwc_int8(dx.get(), dcols.get(), g, k_padded, nullptr);
  expect_bitwise_equal(dcols.to_host(), want,
                       "im2col " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + ", C " + std::to_string(g.c) +
                           ", k_padded " + std::to_string(k_padded) + ", offset " + std::to_string(offset));
}

TEST(CudaOpsTest, Im2colMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Conv2d c16 = conv_geometry(2, 9, 7, 16, 1, 3, 3, 2, 1, 1, 1);
  // Reads in packs of 16, 4 or 1 channels; writes 32, 16 or as many columns as it reads.
  check_im2col(c16, 144, 0);  // reads 16, writes 16, no padding columns
  check_im2col(c16, 160, 0);  // reads 16, writes 32: the last group is half the last tap, half padding
  check_im2col(c16, 160, 4);  // reads and writes 4 (pointers 4-byte aligned)
  check_im2col(c16, 160, 1);  // bytes (unaligned)
  const Conv2d stem = conv_geometry(2, 11, 10, 3, 1, 7, 7, 2, 3, 1, 1);  // an RGB stem
  check_im2col(stem, 160, 0);  // few channels: rows gathered in shared memory
  check_im2col(stem, 147, 0);  // bytes throughout (rows not a multiple of 16)
  check_im2col(stem, 160, 1);  // unaligned columns: bytes throughout
  check_im2col(conv_geometry(3, 23, 21, 5, 1, 3, 5, 1, 2, 2, 1), 80, 0);  // 5 channels, dilated, 1449 pixels
  check_im2col(conv_geometry(1, 8, 9, 20, 1, 3, 3, 1, 2, 2, 1), 192, 0);  // dilated; reads 4, writes 32
  EXPECT_THROW(im2col_nhwc_int8(nullptr, nullptr, conv_geometry(1, 4, 4, 4, 4, 3, 3, 1, 1, 1, 2), 64, nullptr),
               Error);
}

struct ConvCase {
  std::string name;
  Conv2d g;
  int8::Activation activation;
  bool small_values;  // inputs and weights in [-3, 3] (else the full int8 / weight ranges)
  float scale;        // 0: random per-channel scales
};

// Int8Conv's accumulators [N, OH, OW, M]: the exact int32 sum plus the saturating bias.
std::vector<int32_t> conv_on_cpu(const std::vector<int8_t>& x, const std::vector<int8_t>& w,
                                 const std::vector<int32_t>& bias, const Conv2d& g) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  std::vector<int32_t> accumulators;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow)
        for (int64_t m = 0; m < g.m; ++m) {
          int32_t acc = 0;
          for (int r = 0; r < g.kh; ++r)
            for (int s = 0; s < g.kw; ++s)
              for (int64_t c = 0; c < cg; ++c)
                acc += input_at(x, g, n, oh * g.stride_h - g.pad_t + r * g.dil_h, ow * g.stride_w - g.pad_l + s * g.dil_w,
                                m / mg * cg + c) *
                       w[static_cast<size_t>(((m * g.kh + r) * g.kw + s) * cg + c)];
          accumulators.push_back(int8::add_bias(acc, bias.empty() ? 0 : bias[static_cast<size_t>(m)]));
        }
  return accumulators;
}

// The direct kernel (int8 and float outputs), or a tensor-core kernel of int8_conv.h
// (int8 output): the implicit GEMM, or the few-channel kernel.
enum class ConvKernel { kDirect, kImplicitGemm, kFewChannels };

// W [M, KH, KW, C] as the few-channel kernel reads it: rows padded with zeros to a
// multiple of 16 columns, as Int8Conv's GPU kernel packs them.
std::vector<int8_t> padded_weight_rows(const std::vector<int8_t>& w, int64_t m, int64_t depth, int64_t k_padded) {
  std::vector<int8_t> rows(static_cast<size_t>(m * k_padded), 0);
  for (int64_t o = 0; o < m; ++o)
    std::copy_n(w.begin() + o * depth, depth, rows.begin() + o * k_padded);
  return rows;
}

void check_conv(const ConvCase& t, bool with_bias, uint32_t seed, ConvKernel kernel = ConvKernel::kDirect,
                ImplicitConvTile tile = ImplicitConvTile::kAuto) {
  const Conv2d& g = t.g;
  const int64_t cg = g.c / g.group;
  const std::vector<int8_t> x = random_int8(static_cast<size_t>(g.n * g.h * g.w * g.c), seed,
                                            t.small_values ? -3 : int8::kMin, t.small_values ? 3 : int8::kMax);
  const std::vector<int8_t> w = random_int8(static_cast<size_t>(g.m * g.kh * g.kw * cg), seed + 1,
                                            t.small_values ? -3 : int8::kWeightMin, t.small_values ? 3 : int8::kMax);
  std::vector<int32_t> bias;
  if (with_bias) {
    std::mt19937 rng(seed + 2);
    std::uniform_int_distribution<int32_t> dist(-3000, 3000);
    for (int64_t m = 0; m < g.m; ++m) bias.push_back(dist(rng));
    // Sums past the int32 limits saturate.
    bias[0] = std::numeric_limits<int32_t>::max() - 5;
    if (g.m > 1) bias[1] = std::numeric_limits<int32_t>::min() + 5;
  }
  std::vector<float> scale = random_float(static_cast<size_t>(g.m), seed + 3, 0.001f, 0.02f);
  if (t.scale != 0) scale.assign(scale.size(), t.scale);
  // A saturated bias needs a tiny scale to land in range.
  if (with_bias) scale[0] = 1.0f / 33554432.0f;
  if (with_bias && g.m > 1) scale[1] = 1.0f / 33554432.0f;
  const std::vector<int32_t> acc = conv_on_cpu(x, w, bias, g);

  const DeviceBuffer<int8_t> dx(x), dw(w);
  const DeviceBuffer<int32_t> dbias(bias);
  const DeviceBuffer<float> dscale(scale);
  const int32_t* bias_ptr = with_bias ? dbias.get() : nullptr;
  const std::string what = t.name + (with_bias ? ", bias" : "");
  const size_t outputs = acc.size();

  const float y_scale = 0.05f;  // only the int8 bounds read it
  const int32_t lo = t.activation.int8_lo(y_scale), hi = t.activation.int8_hi(y_scale);
  std::vector<int8_t> want_q(outputs);
  std::vector<float> want_f(outputs);
  for (size_t i = 0; i < outputs; ++i) {
    const size_t m = i % static_cast<size_t>(g.m);
    want_q[i] = int8::requantize(acc[i], scale[m], lo, hi);
    want_f[i] = t.activation.apply(static_cast<float>(acc[i]) * scale[m]);
  }
  DeviceBuffer<int8_t> dyq(outputs);
  dyq.fill_bytes(kPoison);
  if (kernel != ConvKernel::kDirect) {
    Int8Epilogue epilogue{};
    epilogue.bias = bias_ptr, epilogue.scale = dscale.get();
    epilogue.lo = static_cast<float>(lo), epilogue.hi = static_cast<float>(hi);
    if (kernel == ConvKernel::kImplicitGemm) {
      ASSERT_TRUE(int8_conv_implicit_gemm(dx.get(), dw.get(), dyq.get(), g, epilogue, nullptr, tile))
          << what << ": the implicit GEMM (" << implicit_conv_tile_name(tile) << ") declined";
    } else {
      const int64_t depth = g.kh * g.kw * g.c, k_padded = (depth + 15) / 16 * 16;
      const DeviceBuffer<int8_t> dw_rows(padded_weight_rows(w, g.m, depth, k_padded));
      ASSERT_TRUE(int8_conv_few_channels(dx.get(), dw_rows.get(), k_padded, dyq.get(), g, epilogue, nullptr))
          << what << ": the few-channel kernel declined";
    }
    const std::string path = kernel == ConvKernel::kImplicitGemm ? implicit_conv_tile_name(tile) : "few-channel";
    expect_bitwise_equal(dyq.to_host(), want_q, what + ", int8 output, " + path);
    return;
  }
  int8_conv_direct(dx.get(), dw.get(), dyq.get(), g, bias_ptr, dscale.get(), static_cast<float>(lo),
                   static_cast<float>(hi), nullptr);
  expect_bitwise_equal(dyq.to_host(), want_q, what + ", int8 output");

  const bool relu = t.activation.kind == int8::Activation::kRelu, clip = t.activation.kind == int8::Activation::kClip;
  DeviceBuffer<float> dyf(outputs);
  dyf.fill_bytes(kPoison);
  int8_conv_direct(dx.get(), dw.get(), dyf.get(), g, bias_ptr, dscale.get(),
                   relu ? 0.0f : clip ? t.activation.clip_min : -kInf, clip ? t.activation.clip_max : kInf, nullptr);
  expect_bitwise_equal(dyf.to_host(), want_f, what + ", float output");
}

TEST(CudaOpsTest, DirectConvMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const int8::Activation none{}, relu{int8::Activation::kRelu};
  const int8::Activation clip{int8::Activation::kClip, -0.7f, 3.1f};
  const std::vector<ConvCase> cases = {
      {"3x3 stride 2 pad 1, C 16 (dp4a)", conv_geometry(2, 9, 7, 16, 24, 3, 3, 2, 1, 1, 1), none, false, 0},
      {"3x3 stride 2 pad 1, C 3", conv_geometry(2, 9, 7, 3, 8, 3, 3, 2, 1, 1, 1), relu, false, 0},
      {"depthwise 3x3, C 32", conv_geometry(2, 10, 10, 32, 32, 3, 3, 1, 1, 1, 32), relu, false, 0},
      {"depthwise 3x3 stride 2, C 32", conv_geometry(1, 9, 8, 32, 32, 3, 3, 2, 1, 1, 32), clip, false, 0},
      {"1-channel 5x5", conv_geometry(2, 12, 11, 1, 8, 5, 5, 1, 2, 1, 1), clip, false, 0},
      {"1-channel 5x5, ties (M = 0.5)", conv_geometry(1, 8, 8, 1, 4, 5, 5, 1, 2, 1, 1), none, true, 0.5f},
      {"grouped 3x3 dilated, 4 groups of 4", conv_geometry(2, 9, 9, 16, 8, 3, 3, 1, 2, 2, 4), none, false, 0},
  };
  uint32_t seed = 20;
  for (const ConvCase& t : cases)
    for (bool with_bias : {false, true}) check_conv(t, with_bias, seed += 4);
}

// Device 0 is compute capability 9.0 (the sm_90a kernels' only target).
bool is_sm90_device() {
  int major = 0, minor = 0;
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  OCTET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
  return major == 9 && minor == 0;
}

// The tensor-core implicit GEMM (sm_90): strides, pads (ONNX end pads that leave a row
// unused), dilation, a 1x1 stride-2 projection, more than one CTA tile along M and N,
// ties and saturated biases, bit for bit the reference, with every CTA tile.
TEST(CudaOpsTest, ImplicitGemmConvMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!is_sm90_device()) GTEST_SKIP() << "the implicit GEMM needs an sm_90 GPU";
  const int8::Activation none{}, relu{int8::Activation::kRelu};
  const int8::Activation clip{int8::Activation::kClip, -0.7f, 3.1f};
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1, C 16 -> 32", conv_geometry(2, 9, 7, 16, 32, 3, 3, 1, 1, 1, 1), relu, false, 0},
      {"3x3 stride 2 pad 1, C 32 -> 64", conv_geometry(2, 9, 8, 32, 64, 3, 3, 2, 1, 1, 1), none, false, 0},
      {"1x1 stride 2, C 16 -> 144", conv_geometry(2, 10, 9, 16, 144, 1, 1, 2, 0, 1, 1), clip, false, 0},
      {"3x3 dilation 2 pad 2, C 48 -> 16", conv_geometry(1, 11, 12, 48, 16, 3, 3, 1, 2, 2, 1), none, false, 0},
      {"3x3 pad 1, C 64 -> 64, 3136 pixels", conv_geometry(4, 28, 28, 64, 64, 3, 3, 1, 1, 1, 1), relu, false, 0},
      {"3x3 pad 1, C 16 -> 16, ties (M = 0.5)", conv_geometry(1, 6, 6, 16, 16, 3, 3, 1, 1, 1, 1), none, true, 0.5f},
  };
  uint32_t seed = 60;
  for (ImplicitConvTile tile : kImplicitConvTiles)
    for (const ConvCase& t : cases)
      for (bool with_bias : {false, true}) check_conv(t, with_bias, seed += 4, ConvKernel::kImplicitGemm, tile);
}

// The few-channel tensor-core kernel (sm_90): an RGB stem, outputs wider than one
// CTA's pixels, K tails (depth 36 in 64 columns), dilation, channel blocks (M 80, 128),
// ties and saturated biases, bit for bit the reference; shapes it does not take are
// declined without a launch.
TEST(CudaOpsTest, FewChannelConvMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!is_sm90_device()) GTEST_SKIP() << "the few-channel kernel needs an sm_90 GPU";
  const int8::Activation none{}, relu{int8::Activation::kRelu};
  const int8::Activation clip{int8::Activation::kClip, -0.7f, 3.1f};
  const std::vector<ConvCase> cases = {
      {"RGB stem 7x7 stride 2 pad 3, 64 outputs", conv_geometry(2, 20, 20, 3, 64, 7, 7, 2, 3, 1, 1), relu, false, 0},
      {"RGB stem, 116 outputs per row", conv_geometry(1, 9, 232, 3, 64, 7, 7, 2, 3, 1, 1), relu, false, 0},
      {"3x3 pad 1, C 4, 150 outputs per row (2 chunks)", conv_geometry(2, 3, 150, 4, 16, 3, 3, 1, 1, 1, 1), none,
       false, 0},
      {"1-channel 5x5 pad 2, M 80", conv_geometry(2, 12, 12, 1, 80, 5, 5, 1, 2, 1, 1), clip, false, 0},
      {"3x3 dilation 2 pad 2, C 4, M 128", conv_geometry(1, 11, 13, 4, 128, 3, 3, 1, 2, 2, 1), none, false, 0},
      {"C 8 3x3 stride 2, 5 outputs per row", conv_geometry(3, 9, 10, 8, 32, 3, 3, 2, 1, 1, 1), relu, false, 0},
      {"RGB 3x3, ties (M = 0.5)", conv_geometry(1, 8, 8, 3, 16, 3, 3, 1, 1, 1, 1), none, true, 0.5f},
  };
  uint32_t seed = 90;
  for (const ConvCase& t : cases)
    for (bool with_bias : {false, true}) check_conv(t, with_bias, seed += 4, ConvKernel::kFewChannels);

  Int8Epilogue epilogue{};
  const DeviceBuffer<float> dscale(std::vector<float>(64, 0.01f));
  epilogue.scale = dscale.get();
  const DeviceBuffer<int8_t> buffer(std::vector<int8_t>(1 << 16, 0));
  int8_t* any = buffer.get();
  // W * C = 21 is not a multiple of 4; 16 channels; M = 24 is not a multiple of 16.
  EXPECT_FALSE(int8_conv_few_channels(any, any, 160, any, conv_geometry(1, 7, 7, 3, 64, 7, 7, 2, 3, 1, 1), epilogue,
                                      nullptr));
  EXPECT_FALSE(int8_conv_few_channels(any, any, 144, any, conv_geometry(1, 8, 8, 16, 64, 3, 3, 1, 1, 1, 1), epilogue,
                                      nullptr));
  EXPECT_FALSE(int8_conv_few_channels(any, any, 32, any, conv_geometry(1, 8, 8, 3, 24, 3, 3, 1, 1, 1, 1), epilogue,
                                      nullptr));
}

}  // namespace
}  // namespace octet::cuda
