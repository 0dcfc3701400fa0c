// octet_vnni_peak: this machine's AVX-512 INT8 (VNNI) and FP32 (FMA) peak, measured.
//
// Each thread runs a loop of independent vpdpbusd accumulations (the instruction behind
// _mm512_dpbusd_epi32): kAccumulators separate zmm accumulators, so the loop is bound by the instruction's
// throughput rather than its latency (~5 cycles on Intel; 2 ports x 5 cycles needs >= 10
// chains in flight). One vpdpbusd does 16 lanes x 4 u8*s8 multiply-adds = 64 MACs
// = 128 ops. The FP32 figure is the same loop over vfmadd231ps (_mm512_fmadd_ps):
// 16 FMAs = 32 flops per instruction. Measured on 1 and on N threads (std::thread).
// AMX is not used; its presence is only reported (cpuid).
//
// Each figure is the best of --trials runs splitting --seconds (default 1000 x 2 ms).
//
//   octet_vnni_peak [--threads N] [--seconds S] [--trials N] [--json FILE]
#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAccumulators = 16;       // independent dependency chains per thread
constexpr int kInnerIterations = 1024;  // between clock checks
constexpr double kOpsPerDpbusd = 128;   // 64 u8 x s8 multiply-adds
constexpr double kFlopsPerFma = 32;     // 16 fp32 fused multiply-adds

// The kernels are inline assembly: with intrinsics over an accumulator array GCC spilled
// accumulators to the stack inside the loop, which measured store-forwarding, not the ALU.
// zmm0..zmm15 are the accumulators, zmm16 and zmm17 the (constant) operands.
#define OCTET_X16(op)                                                                     \
  op " %%zmm17, %%zmm16, %%zmm0\n" op " %%zmm17, %%zmm16, %%zmm1\n"                     \
  op " %%zmm17, %%zmm16, %%zmm2\n" op " %%zmm17, %%zmm16, %%zmm3\n"                     \
  op " %%zmm17, %%zmm16, %%zmm4\n" op " %%zmm17, %%zmm16, %%zmm5\n"                     \
  op " %%zmm17, %%zmm16, %%zmm6\n" op " %%zmm17, %%zmm16, %%zmm7\n"                     \
  op " %%zmm17, %%zmm16, %%zmm8\n" op " %%zmm17, %%zmm16, %%zmm9\n"                     \
  op " %%zmm17, %%zmm16, %%zmm10\n" op " %%zmm17, %%zmm16, %%zmm11\n"                   \
  op " %%zmm17, %%zmm16, %%zmm12\n" op " %%zmm17, %%zmm16, %%zmm13\n"                   \
  op " %%zmm17, %%zmm16, %%zmm14\n" op " %%zmm17, %%zmm16, %%zmm15\n"
#define OCTET_ZMM_CLOBBERS                                                                \
  "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", \
      "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17"

// Runs `op` on the 16 accumulators, twice per loop iteration (32 instructions),
// kInnerIterations iterations per clock check, until `seconds` have passed; returns the
// instructions executed. Operands: accumulators start at 1.0f's bit
// pattern and the multiplicands are 1.0f and 0.0f, so the FP32 variant (acc += 1 * 0)
// never meets denormals or infinities; vpdpbusd's values do not affect its speed.
#define OCTET_PEAK_KERNEL(name, op)                                                      \
  __attribute__((noinline)) uint64_t name(double seconds) {                              \
    static_assert(kAccumulators == 16, "the assembly block has 16 accumulators");        \
    const int one = 0x3f800000, zero = 0;                                                \
    uint64_t instructions = 0;                                                           \
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);              \
    do {                                                                                 \
      uint64_t n = kInnerIterations;                                                     \
      asm volatile(                                                                      \
          "vpbroadcastd %1, %%zmm16\n vpbroadcastd %2, %%zmm17\n"                      \
          "vmovdqa32 %%zmm16, %%zmm0\n vmovdqa32 %%zmm16, %%zmm1\n"                    \
          "vmovdqa32 %%zmm16, %%zmm2\n vmovdqa32 %%zmm16, %%zmm3\n"                    \
          "vmovdqa32 %%zmm16, %%zmm4\n vmovdqa32 %%zmm16, %%zmm5\n"                    \
          "vmovdqa32 %%zmm16, %%zmm6\n vmovdqa32 %%zmm16, %%zmm7\n"                    \
          "vmovdqa32 %%zmm16, %%zmm8\n vmovdqa32 %%zmm16, %%zmm9\n"                    \
          "vmovdqa32 %%zmm16, %%zmm10\n vmovdqa32 %%zmm16, %%zmm11\n"                  \
          "vmovdqa32 %%zmm16, %%zmm12\n vmovdqa32 %%zmm16, %%zmm13\n"                  \
          "vmovdqa32 %%zmm16, %%zmm14\n vmovdqa32 %%zmm16, %%zmm15\n"                  \
          "1:\n" OCTET_X16(op) OCTET_X16(op) "dec %0\n jnz 1b\n"                      \
          : "+r"(n)                                                                      \
          : "r"(one), "r"(zero)                                                          \
          : OCTET_ZMM_CLOBBERS, "cc");                                                   \
      instructions += uint64_t(kInnerIterations) * 2 * kAccumulators;                    \
    } while (Clock::now() < end);                                                        \
    return instructions;                                                                 \
  }

// A chain of dependent register-register adds retires one per cycle, so adds/s is the core
// clock while it runs; it turns instructions/s into instructions per cycle in the printout.
// (Not add-immediate: Golden Cove folds those at rename, several per cycle.)
__attribute__((noinline)) uint64_t run_add_chain(double seconds) {
  uint64_t cycles = 0, x = 0, one = 1;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  do {
    uint64_t n = kInnerIterations;
    asm volatile(
        "1:\n"
        ".rept 32\n add %2, %1\n .endr\n"
        "dec %0\n jnz 1b\n"
        : "+r"(n), "+r"(x)
        : "r"(one)
        : "cc");
    cycles += uint64_t(kInnerIterations) * 32;
  } while (Clock::now() < end);
  return cycles;
}

OCTET_PEAK_KERNEL(run_dpbusd, "vpdpbusd")      // zmm += u8(zmm16) . s8(zmm17), 4 per lane
OCTET_PEAK_KERNEL(run_fma, "vfmadd231ps")      // zmm += zmm16 * zmm17

struct Result {
  int threads;
  double instructions_per_s;           // all threads together
  double instructions_per_s_per_thread;
  double gops;                         // giga ops (INT8) or giga flops (FP32), all threads
};

// Starts `threads` threads together, each running `kernel` for `seconds`; the rate is the sum
// of the threads' own rates (each times its own run, after a common start barrier).
template <typename Kernel>
Result measure_once(Kernel kernel, int threads, double seconds, double ops_per_instruction) {
  std::vector<double> rates(threads);
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {}
      const auto start = Clock::now();
      const uint64_t instructions = kernel(seconds);
      rates[t] = instructions / std::chrono::duration<double>(Clock::now() - start).count();
    });
  for (auto& th : pool) th.join();
  Result r;
  r.threads = threads;
  r.instructions_per_s = 0;
  for (double rate : rates) r.instructions_per_s += rate;
  r.instructions_per_s_per_thread = r.instructions_per_s / threads;
  r.gops = r.instructions_per_s * ops_per_instruction / 1e9;
  return r;
}

// Best of `trials` short runs: a peak is what the cores do when nothing else runs on them,
// and on a shared (or virtual) machine most runs of any length lose time slices to other
// work; runs of a few milliseconds often fit between them. The median run is kept too, as
// a sign of how loaded the machine was.
template <typename Kernel>
std::pair<Result, Result> measure(Kernel kernel, int threads, double seconds, int trials, double ops_per_instruction) {
  std::vector<Result> runs;
  for (int i = 0; i < trials; ++i) runs.push_back(measure_once(kernel, threads, seconds / trials, ops_per_instruction));
  std::sort(runs.begin(), runs.end(),
            [](const Result& a, const Result& b) { return a.instructions_per_s > b.instructions_per_s; });
  return {runs.front(), runs[runs.size() / 2]};
}

bool cpu_has_amx_int8() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (edx >> 25) & 1;  // CPUID.(EAX=7,ECX=0):EDX[25] = AMX-INT8
}

bool cpu_has_avx512_vnni() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx >> 11) & 1;  // CPUID.(EAX=7,ECX=0):ECX[11] = AVX512_VNNI
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

struct Kind {
  const char* key;   // JSON
  const char* label;
  const char* unit;
  uint64_t (*kernel)(double);
  double ops_per_instruction;
};

constexpr Kind kKinds[] = {{"int8_vpdpbusd", "INT8 vpdpbusd", "GOPS", run_dpbusd, kOpsPerDpbusd},
                           {"fp32_fma", "FP32 vfmadd231ps", "GFLOPS", run_fma, kFlopsPerFma}};

std::string json_result(const Kind& k, const Result& best, const Result& median, double clock_hz) {
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "{\"kind\": \"%s\", \"threads\": %d, \"instructions_per_s\": %.6g, "
                "\"instructions_per_s_per_thread\": %.6g, \"instructions_per_scalar_cycle\": %.3f, "
                "\"ops_per_instruction\": %g, \"gops\": %.2f, \"median_trial_gops\": %.2f}",
                k.key, best.threads, best.instructions_per_s, best.instructions_per_s_per_thread,
                best.instructions_per_s_per_thread / clock_hz, k.ops_per_instruction, best.gops, median.gops);
  return buf;
}

void print_result(const Kind& k, const Result& best, const Result& median, double clock_hz) {
  std::printf("%-17s %d thread%s: %5.2f G instr/s per thread (%.2f per scalar cycle) x %3.0f ops/instr x %d"
              " = %7.1f %s (median trial %.1f)\n",
              k.label, best.threads, best.threads == 1 ? " " : "s", best.instructions_per_s_per_thread / 1e9,
              best.instructions_per_s_per_thread / clock_hz, k.ops_per_instruction, best.threads, best.gops, k.unit,
              median.gops);
}

}  // namespace

int main(int argc, char** argv) {
  int max_threads = std::max(1u, std::thread::hardware_concurrency());
  double seconds = 2.0;
  int trials = 1000;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "octet_vnni_peak: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") max_threads = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--seconds") seconds = std::max(0.05, std::atof(value().c_str()));
    else if (arg == "--trials") trials = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--json") json_path = value();
    else {
      std::fprintf(stderr, "usage: octet_vnni_peak [--threads N] [--seconds S] [--trials N] [--json FILE]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (!cpu_has_avx512_vnni()) {
    std::fprintf(stderr, "octet_vnni_peak: this CPU has no AVX512_VNNI\n");
    return 1;
  }

  std::vector<int> thread_counts = {1};
  if (max_threads > 1) thread_counts.push_back(max_threads);
  std::printf("CPU: %s; %u logical CPUs; AVX512_VNNI yes; AMX-INT8 %s (not used here)\n", cpu_model_name().c_str(),
              std::thread::hardware_concurrency(), cpu_has_amx_int8() ? "yes" : "no");
  std::printf("%d independent accumulators per thread; best of %d x %.3f s per figure\n", kAccumulators, trials,
              seconds / trials);

  // The scalar clock; under AVX-512 load the core may run somewhat slower, so "per scalar
  // cycle" slightly understates instructions per AVX-512 cycle (2 = two 512-bit ports).
  const double clock_hz = measure(run_add_chain, 1, seconds, trials, 1).first.instructions_per_s;
  std::printf("core clock, 1 thread (dependent adds/s): %.2f GHz\n", clock_hz / 1e9);

  std::vector<std::string> json_rows;
  for (const Kind& k : kKinds)
    for (int threads : thread_counts) {
      measure_once(k.kernel, threads, 0.1, k.ops_per_instruction);  // untimed: reach the AVX-512 clock first
      auto [best, median] = measure(k.kernel, threads, seconds, trials, k.ops_per_instruction);
      print_result(k, best, median, clock_hz);
      json_rows.push_back(json_result(k, best, median, clock_hz));
    }

  if (!json_path.empty()) {
    std::ofstream js(json_path);
    if (!js) {
      std::fprintf(stderr, "octet_vnni_peak: %s: cannot write file\n", json_path.c_str());
      return 1;
    }
    js << "{\"cpu\": \"" << cpu_model_name() << "\", \"logical_cpus\": " << std::thread::hardware_concurrency()
       << ", \"amx_int8\": " << (cpu_has_amx_int8() ? "true" : "false") << ", \"accumulators\": " << kAccumulators
       << ", \"trials\": " << trials << ", \"seconds_per_trial\": " << seconds / trials
       << ", \"clock_ghz\": " << clock_hz / 1e9
       << ", \"results\": [\n";
    for (size_t i = 0; i < json_rows.size(); ++i) js << "  " << json_rows[i] << (i + 1 < json_rows.size() ? ",\n" : "\n");
    js << "]}\n";
  }
  return 0;
}
