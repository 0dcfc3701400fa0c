#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>

#include "commands.h"
#include "octet/parallel.h"

namespace octet::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Random inputs for every input not given, at --shape or the declared shape with the batch.
Tensor random_input(const ValueInfo& v, int64_t batch, const std::map<std::string, Shape>& shapes, uint32_t seed) {
  Shape shape;
  if (auto it = shapes.find(v.name); it != shapes.end()) {
    shape = it->second;
  } else {
    try {
      shape = v.shape_at_batch(batch);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "; give --shape " + v.name + ":DxD...");
    }
  }
  return random_tensor(v.dtype == DType::kUndefined ? DType::kFloat32 : v.dtype, shape, seed);
}

double percentile(const std::vector<double>& sorted, double p) {
  size_t idx = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size())) ;
  return sorted[std::min(sorted.size() - 1, idx == 0 ? 0 : idx - 1)];
}

struct Stat {
  const char* name;
  double value;
};

// min, mean, median, p90, p95, p99, max of the times (empty: none).
std::vector<Stat> summarize(std::vector<double> times) {
  if (times.empty()) return {};
  std::sort(times.begin(), times.end());
  const double mean = std::accumulate(times.begin(), times.end(), 0.0) / times.size();
  return {{"min", times.front()}, {"mean", mean}, {"median", percentile(times, 50)}, {"p90", percentile(times, 90)},
          {"p95", percentile(times, 95)}, {"p99", percentile(times, 99)}, {"max", times.back()}};
}

void print_stats(const char* title, const std::vector<Stat>& stats) {
  std::printf("%s:", title);
  for (const auto& s : stats) std::printf(" %s = %.4f", s.name, s.value);
  std::printf("\n");
}

std::string stats_json(const std::vector<Stat>& stats) {
  std::string js = "{";
  for (size_t i = 0; i < stats.size(); ++i)
    js += (i ? ", \"" : "\"") + std::string(stats[i].name) + "\": " + std::to_string(stats[i].value);
  return js + "}";
}

// Each layer's time in one run. On the CPU: the time between consecutive outputs,
// as the executor reports each node's outputs right after the node ran; on the GPU:
// CUDA events between the nodes' kernels.
void print_layer_profile(ExecutionContext& context, const TensorMap& inputs, bool gpu) {
  const Graph& g = context.executor().graph();
  std::map<std::string, size_t> node_of;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& out : g.nodes[i].outputs) node_of[out] = i;
  std::vector<double> ms(g.nodes.size(), 0.0);
  auto last = Clock::now();
  if (gpu)
    ms = context.profile_gpu_layers(inputs);
  else
    context.execute(inputs, [&](const std::string& name, const Tensor&) {
      const auto now = Clock::now();
      ms[node_of.at(name)] += std::chrono::duration<double, std::milli>(now - last).count();
      last = now;
    });
  const double total = std::accumulate(ms.begin(), ms.end(), 0.0);
  std::vector<size_t> order(g.nodes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ms[a] > ms[b]; });
  std::printf("=== Layer profile (one run, %.3f ms) ===\n", total);
  std::printf("%10s %6s  %-16s %-10s %s\n", "ms", "%", "op", "kernel", "layer");
  for (size_t i : order) {
    const Node& n = g.nodes[i];
    std::printf("%10.3f %5.1f%%  %-16s %-10s %s\n", ms[i], total > 0 ? 100.0 * ms[i] / total : 0.0, n.op_type.c_str(),
                n.backend.empty() ? "reference" : n.backend.c_str(), n.name.c_str());
  }
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "measure throughput and latency (trtexec-style summary)");
  struct Args {
    std::string model, json;
    std::vector<std::string> inputs, shapes;
    int64_t batch = 1;
    int threads = 1;
    double warmup_ms = 200, duration_s = 3;
    int64_t min_iterations = 1;
    bool profile = false;
    std::string device;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "model.onnx or engine.plan")->required();
  cmd->add_option("--batch", args->batch, "batch size for inputs with a dynamic first dimension")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "CPU threads")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup-ms", args->warmup_ms, "warm-up time before measuring")->check(CLI::NonNegativeNumber);
  cmd->add_option("--duration-s", args->duration_s, "measuring time")->check(CLI::PositiveNumber);
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.npy to use instead of random data");
  cmd->add_option("--shape,--shapes", args->shapes, "NAME:DxDxD for inputs with dynamic dimensions");
  cmd->add_option("--json", args->json, "write the summary as JSON");
  cmd->add_option("--min-iterations", args->min_iterations, "measure at least this many iterations")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--profile", args->profile, "also print each layer's time in one extra run (like trtexec --dumpProfile)");
  cmd->add_option("--device", args->device, "cpu or cuda: the device the plan must be built for (default: the plan's)");
  return [args] {
    set_num_threads(args->threads);
    const Engine engine = load_engine(args->model);
    if (!args->device.empty() && parse_device(args->device) != engine.info().device)
      throw Error(args->model + ": the engine runs on the " + device_name(engine.info().device) +
                  ", not --device " + args->device + " (build the plan with octet build --device " + args->device + ")");
    const bool gpu = engine.info().device == Device::kCuda;
    ExecutionContext context = engine.create_execution_context();
    const Graph& g = context.executor().graph();
    std::map<std::string, Shape> shapes;
    for (const auto& s : args->shapes) shapes.merge(parse_shapes("--shape", s));
    TensorMap inputs = read_inputs(args->inputs, g);
    for (size_t i = 0; i < g.inputs.size(); ++i)
      if (!inputs.count(g.inputs[i].name))
        inputs[g.inputs[i].name] = random_input(g.inputs[i], args->batch, shapes, static_cast<uint32_t>(i));
    // Samples per inference: the first input's leading dimension.
    const int64_t samples = g.inputs.empty() || inputs.at(g.inputs[0].name).rank() == 0
                                ? 1 : inputs.at(g.inputs[0].name).dim(0);

    auto warm_end = Clock::now() + std::chrono::duration<double, std::milli>(args->warmup_ms);
    do context.execute(inputs); while (Clock::now() < warm_end);

    std::vector<double> latencies_ms, gpu_ms;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(args->duration_s);
    while (Clock::now() < end || static_cast<int64_t>(latencies_ms.size()) < args->min_iterations) {
      auto t0 = Clock::now();
      context.execute(inputs);
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (gpu) gpu_ms.push_back(context.last_gpu_compute_ms());
    }
    const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
    const double ips = latencies_ms.size() / total_s;
    const std::vector<Stat> latency = summarize(latencies_ms), compute = summarize(gpu_ms);

    std::printf("=== Performance summary ===\n");
    std::printf("Model: %s  device: %s  batch: %lld  threads: %d  iterations: %zu in %.3f s\n", args->model.c_str(),
                device_name(engine.info().device), static_cast<long long>(samples), args->threads,
                latencies_ms.size(), total_s);
    std::printf("Throughput: %.2f inferences/s, %.2f samples/s\n", ips, ips * samples);
    print_stats(gpu ? "Latency (end to end: input copy, network, output copy; ms)" : "Latency (ms)", latency);
    // As trtexec's GPU Compute Time: the network on the device, without the copies.
    if (gpu) {
      print_stats("GPU Compute Time (ms)", compute);
      std::printf("GPU compute throughput: %.2f samples/s (batch / median GPU compute time)\n",
                  samples / (compute[2].value / 1000.0));
    }
    std::printf("Peak activation memory: %.2f MiB\n", context.peak_activation_bytes() / (1024.0 * 1024.0));
    if (args->profile) print_layer_profile(context, inputs, gpu);
    if (!args->json.empty()) {
      std::ofstream js(args->json);
      if (!js) throw Error(args->json + ": cannot write file");
      js << "{\"model\": \"" << args->model << "\", \"batch\": " << samples << ", \"threads\": " << args->threads
         << ", \"iterations\": " << latencies_ms.size() << ", \"duration_s\": " << total_s
         << ", \"throughput_inferences_per_s\": " << ips << ", \"throughput_samples_per_s\": " << ips * samples
         << ", \"device\": \"" << device_name(engine.info().device) << "\", \"latency_ms\": " << stats_json(latency);
      if (gpu) js << ", \"gpu_compute_ms\": " << stats_json(compute);
      js << "}\n";
    }
    return 0;
  };
}

}  // namespace octet::cli
