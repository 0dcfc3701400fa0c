// octet_cuda_int8_conv: ResNet-50's INT8 convolutions on the GPU, each through every
// CUDA path that takes it, timed and checked against one another.
//
// For each distinct convolution of torchvision's ResNet-50 (at --batch, default 256;
// the bottlenecks' last 1x1 layers with their residual sum, as GPU engines fuse them),
// random int8 inputs and weights, random biases and per-channel scales, ReLU bounds.
// Paths: the GEMM over the activations (1x1 stride 1) with its automatic choice and
// with each tensor-core configuration of kInt8GemmTiles, the few-channel kernel (the
// stem), the implicit GEMM with its automatic tile and with each tile of
// kImplicitConvTiles, and im2col + GEMM. Every path's output must equal the first
// path's byte for byte (the kernel tests check the paths against the reference).
// Prints, per layer and path, the median time over --iters runs after --warmup (CUDA
// events) and the bandwidth over the fewest bytes the layer must move (input, output,
// residual once), then two totals over ResNet-50's convolutions: on the shape rules'
// first choice, and on the fastest path of each layer (what Int8Conv's tactic timing
// picks from; the engine also times im2col + GEMM in each configuration). Exits 1 if
// any path disagrees.
//
//   octet_cuda_int8_conv [--batch N] [--iters N] [--warmup N]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_support.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/int8_conv.h"
#include "kernels/cuda/int8_gemm.h"

namespace {

using namespace octet::cuda;
using namespace octet::bench;
using octet::Error;

struct Layer {
  std::string name;
  int64_t h, c, m;
  int k, stride;
  bool residual;
  int count;  // how many of ResNet-50's convolutions have this shape
};

// torchvision's ResNet-50 (v1.5: the stride on the 3x3), input 224x224.
std::vector<Layer> resnet50_layers() {
  std::vector<Layer> layers{{"stem 7x7/2", 224, 3, 64, 7, 2, false, 1}};
  const int64_t widths[] = {64, 128, 256, 512};
  const int blocks[] = {3, 4, 6, 3};
  int64_t h = 56, in = 64;
  for (int s = 0; s < 4; ++s) {
    const int64_t w = widths[s];
    const int stride = s == 0 ? 1 : 2;
    const std::string stage = "layer" + std::to_string(s + 1);
    const int64_t out_h = h / stride;
    layers.push_back({stage + ".0 1x1 in", h, in, w, 1, 1, false, 1});
    layers.push_back({stage + ".0 3x3" + (stride == 2 ? "/2" : ""), h, w, w, 3, stride, false, 1});
    layers.push_back({stage + ".0 1x1 projection" + (stride == 2 ? "/2" : ""), h, in, 4 * w, 1, stride, false, 1});
    layers.push_back({stage + " 1x1 out +residual", out_h, w, 4 * w, 1, 1, true, blocks[s]});
    if (blocks[s] > 1) {
      layers.push_back({stage + ".1+ 1x1 in", out_h, 4 * w, w, 1, 1, false, blocks[s] - 1});
      layers.push_back({stage + ".1+ 3x3", out_h, w, w, 3, 1, false, blocks[s] - 1});
    }
    h = out_h, in = 4 * w;
  }
  return layers;
}

struct Options {
  int64_t batch = 256;
  int64_t iters = 20, warmup = 5;
};

Options parse_options(int argc, char** argv) {
  Options o;
  parse_int_flags(argc, argv, {{"--batch", &o.batch}, {"--iters", &o.iters}, {"--warmup", &o.warmup}});
  if (o.batch < 1 || o.iters < 1 || o.warmup < 0) throw Error("--batch and --iters must be >= 1");
  return o;
}

struct Path {
  std::string name;
  std::function<bool(cudaStream_t)> run;  // false: the path declined the layer
};

// Sums of the layers' times (each times its count in the network).
struct Totals {
  double first_choice_ms = 0, fastest_ms = 0;
};

int bench_layer(const Layer& l, const Options& o, cudaStream_t stream, Totals& totals) {
  const int pad = l.k / 2;
  const int64_t oh = (l.h + 2 * pad - l.k) / l.stride + 1;
  const Conv2d g{o.batch, l.h, l.h, l.c, l.m, oh, oh, l.k, l.k, l.stride, l.stride, pad, pad, 1, 1, 1};
  const int64_t depth = int64_t{l.k} * l.k * l.c, k_padded = (depth + 15) / 16 * 16;
  const int64_t pixels = g.n * g.oh * g.ow, in_bytes = g.n * g.h * g.w * g.c, out_bytes = pixels * g.m;

  DeviceArray<int8_t> x{size_t(in_bytes)}, w{size_t(g.m * k_padded)}, y{size_t(out_bytes)}, first{size_t(out_bytes)},
      z{size_t(l.residual ? out_bytes : 0)}, cols{size_t(l.k == 1 && l.stride == 1 ? 0 : pixels * k_padded)};
  fill_random_int8<<<1024, 256>>>(x.ptr, size_t(in_bytes), 1);
  OCTET_CUDA_CHECK_LAUNCH();
  // Weight rows [M, KH, KW, C] padded with zeros to k_padded columns, as Int8Conv's kernel packs them.
  std::vector<int8_t> wh(size_t(g.m * k_padded), 0);
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> weight(-127, 127);
  for (int64_t r = 0; r < g.m; ++r)
    for (int64_t k = 0; k < depth; ++k) wh[size_t(r * k_padded + k)] = static_cast<int8_t>(weight(rng));
  OCTET_CUDA_CHECK(cudaMemcpy(w.ptr, wh.data(), wh.size(), cudaMemcpyHostToDevice));
  if (l.residual) {
    fill_random_int8<<<1024, 256>>>(z.ptr, size_t(out_bytes), 3);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  // Scales that spread the sums over the int8 range: |acc| is about 73^2 sqrt(depth).
  std::vector<int32_t> bias(size_t(g.m));
  std::vector<float> scale(size_t(g.m));
  std::uniform_int_distribution<int32_t> bias_dist(-20000, 20000);
  std::uniform_real_distribution<float> scale_dist(0.5f, 2.0f);
  for (int64_t m = 0; m < g.m; ++m)
    bias[size_t(m)] = bias_dist(rng), scale[size_t(m)] = scale_dist(rng) * 40.0f / (5329.0f * std::sqrt(float(depth)));
  DeviceArray<int32_t> bias_d(bias.size());
  DeviceArray<float> scale_d(scale.size());
  OCTET_CUDA_CHECK(cudaMemcpy(bias_d.ptr, bias.data(), bias.size() * 4, cudaMemcpyHostToDevice));
  OCTET_CUDA_CHECK(cudaMemcpy(scale_d.ptr, scale.data(), scale.size() * 4, cudaMemcpyHostToDevice));
  Int8Epilogue e{bias_d.ptr, scale_d.ptr, 0.0f, 127.0f};
  if (l.residual) e.residual = Int8Residual{z.ptr, 0.6f, 0.45f, 0.0f, 127.0f};

  std::vector<Path> paths;
  if (l.k == 1 && l.stride == 1) {
    paths.push_back({"gemm", [&](cudaStream_t s) {
                       int8_gemm(x.ptr, w.ptr, y.ptr, pixels, g.m, depth, e, s);
                       return true;
                     }});
    for (Int8GemmTile tile : kInt8GemmTiles)
      paths.push_back({std::string("gemm ") + int8_gemm_tile_name(tile), [&, tile](cudaStream_t s) {
                         return int8_gemm_tile(x.ptr, w.ptr, y.ptr, pixels, g.m, depth, e, tile, s);
                       }});
  } else {
    paths.push_back({"few-channel", [&](cudaStream_t s) { return int8_conv_few_channels(x.ptr, w.ptr, k_padded, y.ptr, g, e, s); }});
    std::vector<ImplicitConvTile> tiles{ImplicitConvTile::kAuto};
    tiles.insert(tiles.end(), std::begin(kImplicitConvTiles), std::end(kImplicitConvTiles));
    for (ImplicitConvTile tile : tiles)
      paths.push_back({std::string("implicit ") + implicit_conv_tile_name(tile), [&, tile](cudaStream_t s) {
                         return depth == k_padded && int8_conv_implicit_gemm(x.ptr, w.ptr, y.ptr, g, e, s, tile);
                       }});
    paths.push_back({"im2col + gemm", [&](cudaStream_t s) {
                       im2col_nhwc_int8(x.ptr, cols.ptr, g, k_padded, s);
                       int8_gemm(cols.ptr, w.ptr, y.ptr, pixels, g.m, k_padded, e, s);
                       return true;
                     }});
  }
  const double min_bytes = double(l.stride == 1 || l.k > 1 ? in_bytes : in_bytes / (l.stride * l.stride)) +
                           double(out_bytes) * (l.residual ? 2 : 1);
  const double ops = 2.0 * double(pixels) * double(depth) * double(g.m);
  int failures = 0;
  bool have_first = false;
  std::optional<double> first_ms, fastest_ms;
  for (const Path& p : paths) {
    OCTET_CUDA_CHECK(cudaMemsetAsync(y.ptr, 0x5a, size_t(out_bytes), stream));
    if (!p.run(stream)) continue;
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream));
    const std::vector<int8_t> out = to_host(y.ptr, size_t(out_bytes));
    std::string verdict = "reference";
    if (!have_first) {
      OCTET_CUDA_CHECK(cudaMemcpy(first.ptr, y.ptr, size_t(out_bytes), cudaMemcpyDeviceToDevice));
      have_first = true;
    } else {
      const std::vector<int8_t> want = to_host(first.ptr, size_t(out_bytes));
      size_t differ = 0;
      for (size_t i = 0; i < out.size(); ++i) differ += out[i] != want[i];
      verdict = differ ? std::to_string(differ) + " DIFFER" : "equal";
      if (differ) ++failures;
    }
    const double ms = median_ms([&](int) { p.run(stream); }, 1, o.iters, o.warmup, stream);
    // The shape rules' first choice: the first of gemm, implicit auto, few-channel, im2col + gemm that takes the layer.
    if (!first_ms && (p.name == "gemm" || p.name == "implicit auto" || p.name == "few-channel" || p.name == "im2col + gemm"))
      first_ms = ms;
    fastest_ms = std::min(fastest_ms.value_or(ms), ms);
    std::printf("| %-28s | %-22s | %8.4f | %7.0f | %6.0f | %s |\n", l.name.c_str(), p.name.c_str(), ms,
                min_bytes / ms * 1e-6, ops / ms * 1e-9, verdict.c_str());
  }
  totals.first_choice_ms += first_ms.value_or(0) * l.count;
  totals.fastest_ms += fastest_ms.value_or(0) * l.count;
  return failures;
}

int run(const Options& o) {
  cudaDeviceProp prop{};
  OCTET_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("octet_cuda_int8_conv: ResNet-50 convolutions at batch %lld on %s\n", static_cast<long long>(o.batch),
              prop.name);
  std::printf("| layer | path | ms | GB/s | TOPS | output |\n|---|---|---|---|---|---|\n");
  cudaStream_t stream;
  OCTET_CUDA_CHECK(cudaStreamCreate(&stream));
  int failures = 0;
  Totals totals;
  for (const Layer& l : resnet50_layers()) failures += bench_layer(l, o, stream, totals);
  OCTET_CUDA_CHECK(cudaStreamDestroy(stream));
  std::printf("ResNet-50's convolutions: %.3f ms on the shape rules' first choice, %.3f ms on each layer's fastest path\n",
              totals.first_choice_ms, totals.fastest_ms);
  if (failures) std::printf("FAILED: %d paths disagree\n", failures);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "octet_cuda_int8_conv: %s\n", e.what());
    return 2;
  }
}
