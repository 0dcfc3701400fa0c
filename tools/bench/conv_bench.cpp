// octet_conv_bench: reference vs onednn convolution throughput on ResNet-50's
// conv shapes, FP32 (Conv) and INT8 (Int8Conv, int8 output with relu), printed as
// GOPS = 2 * MACs / second. Each figure is the best of the timed runs made within
// --seconds (at least one, after one untimed warm-up run).
//
//   octet_conv_bench [--threads N] [--seconds S] [--batches 64,1] [--types fp32,int8]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "octet/kernel.h"
#include "octet/parallel.h"

namespace {

using namespace octet;

struct ConvShape {
  const char* name;
  int64_t in_channels, out_channels, kernel, stride, size;  // size: input H = W
};

// ResNet-50's most frequent convolution shapes (stage, then kind).
const ConvShape kShapes[] = {
    {"64->64 3x3 56x56", 64, 64, 3, 1, 56},
    {"256->64 1x1 56x56", 256, 64, 1, 1, 56},
    {"64->256 1x1 56x56", 64, 256, 1, 1, 56},
    {"128->128 3x3 s2 56x56", 128, 128, 3, 2, 56},
    {"128->128 3x3 28x28", 128, 128, 3, 1, 28},
    {"256->256 3x3 14x14", 256, 256, 3, 1, 14},
    {"512->512 3x3 7x7", 512, 512, 3, 1, 7},
};

Tensor random_tensor(DType dtype, Shape shape, std::mt19937& rng) {
  Tensor t(dtype, std::move(shape));
  if (dtype == DType::kFloat32) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  } else if (dtype == DType::kInt8) {
    std::uniform_int_distribution<int> dist(-127, 127);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(dist(rng));
  } else {  // int32 bias
    std::uniform_int_distribution<int32_t> dist(-1000, 1000);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = dist(rng);
  }
  return t;
}

// A Conv / Int8Conv node with its weights and bias as initializers of `graph`.
Node make_conv(const ConvShape& s, bool int8, Graph& graph, std::mt19937& rng) {
  Node node;
  node.name = s.name;
  node.op_type = int8 ? "Int8Conv" : "Conv";
  node.domain = int8 ? "octet" : "";
  node.inputs = {"x", "w", "b"};
  node.outputs = {"y"};
  const int64_t pad = s.kernel / 2;
  node.attributes = {{"strides", Shape{s.stride, s.stride}}, {"pads", Shape{pad, pad, pad, pad}}};
  if (int8) {
    node.attributes["x_scale"] = 0.05f;
    node.attributes["y_scale"] = 0.1f;
    node.attributes["w_scales"] = std::vector<float>(static_cast<size_t>(s.out_channels), 0.002f);
    node.attributes["activation"] = std::string("relu");
  }
  const DType weight_type = int8 ? DType::kInt8 : DType::kFloat32;
  graph.initializers["w"] = random_tensor(weight_type, {s.out_channels, s.in_channels, s.kernel, s.kernel}, rng);
  graph.initializers["b"] = random_tensor(int8 ? DType::kInt32 : DType::kFloat32, {s.out_channels}, rng);
  graph.opsets = {{"", 17}, {"octet", 1}};
  return node;
}

// Best seconds per run of `kernel` on `x`.
double time_runs(const PreparedKernel& kernel, const Node& node, const Graph& graph, const Tensor& x,
                 double budget_seconds) {
  using Clock = std::chrono::steady_clock;
  std::vector<const Tensor*> inputs{&x, &graph.initializers.at("w"), &graph.initializers.at("b")};
  auto run_once = [&] {
    KernelContext ctx{node, graph.opset(node.domain), inputs, std::vector<Tensor>(1)};
    const auto start = Clock::now();
    kernel.run(ctx);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  run_once();  // warm-up: makes the primitives, touches the memory
  double best = run_once(), spent = best;
  while (spent < budget_seconds) {
    const double t = run_once();
    best = std::min(best, t);
    spent += t;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 1.0;
  std::vector<int64_t> batches{64, 1};
  std::string types = "fp32,int8";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) {
      threads = std::atoi(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--seconds")) {
      seconds = std::atof(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--types")) {
      types = argv[i + 1];
    } else if (!std::strcmp(argv[i], "--batches")) {
      batches.clear();
      for (const char* p = argv[i + 1]; *p;) {
        char* end;
        batches.push_back(std::strtoll(p, &end, 10));
        p = *end ? end + 1 : end;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--batches 64,1] [--types fp32,int8]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);
  std::printf("threads %d; GOPS = 2 * MACs / s, best run\n", threads);
  std::printf("%-24s %5s %5s %12s %12s %8s\n", "shape", "batch", "type", "reference", "onednn", "speedup");
  std::mt19937 rng(7);
  for (int64_t batch : batches)
    for (const ConvShape& s : kShapes)
      for (bool int8 : {false, true}) {
        if (types.find(int8 ? "int8" : "fp32") == std::string::npos) continue;
        Graph graph;
        const Node node = make_conv(s, int8, graph, rng);
        const Tensor x = random_tensor(int8 ? DType::kInt8 : DType::kFloat32, {batch, s.in_channels, s.size, s.size}, rng);
        const int64_t out_size = (s.size + 2 * (s.kernel / 2) - s.kernel) / s.stride + 1;
        const double macs = double(batch) * s.out_channels * s.in_channels * s.kernel * s.kernel * out_size * out_size;
        double gops[2];
        const char* backends[2] = {"reference", "onednn"};
        for (int b = 0; b < 2; ++b) {
          const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, graph.opset(node.domain), backends[b]);
          const auto kernel = def ? def->bind(node, graph) : nullptr;
          if (!kernel) {
            std::fprintf(stderr, "%s: no %s kernel\n", s.name, backends[b]);
            return 1;
          }
          gops[b] = 2.0 * macs / time_runs(*kernel, node, graph, x, seconds) / 1e9;
        }
        std::printf("%-24s %5lld %5s %12.1f %12.1f %7.1fx\n", s.name, static_cast<long long>(batch),
                    int8 ? "int8" : "fp32", gops[0], gops[1], gops[1] / gops[0]);
        std::fflush(stdout);
      }
  return 0;
}
