// octet_cuda_int8_gemm: speed and exactness of octet's INT8 GEMM (int8_gemm.h) on the GPU.
//
// Random int8 A [M, K] and B [N, K] (values in [-127, 127]) in as many as two input sets
// (the timed runs alternate between them, so no run finds its inputs in L2). Times the
// raw int32 output, the requantized int8 output (random bias and scales) and, as a
// yardstick, cuBLASLt's INT8 GEMM on the same data; each time is the median over --iters
// runs after --warmup, timed with CUDA events; TOPS = 2 M N K / time.
// Exactness: every int32 output equals a naive GPU kernel's, 256 random elements also
// equal a CPU int64 sum, and 4096 sampled int8 outputs equal requantize.h on the CPU.
// Exits 1 if any check fails.
//
//   octet_cuda_int8_gemm [--m M] [--n N] [--k K] [--iters N] [--warmup N]
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_support.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/int8_gemm.h"
#include "kernels/reference/int8/requantize.h"

namespace {

using octet::Error;
using namespace octet::bench;

struct Options {
  int64_t m = 8192, n = 8192, k = 8192;
  int64_t iters = 50, warmup = 10;
};

Options parse_options(int argc, char** argv) {
  Options o;
  parse_int_flags(argc, argv, {{"--m", &o.m}, {"--n", &o.n}, {"--k", &o.k}, {"--iters", &o.iters}, {"--warmup", &o.warmup}});
  if (o.m < 1 || o.n < 1 || o.k < 1 || o.iters < 1 || o.warmup < 0) throw Error("sizes and --iters must be >= 1");
  return o;
}

// The yardstick for exactness: one thread per output, a plain int32 loop over K.
__global__ void reference_int8_gemm(const int8_t* A, const int8_t* B, int32_t* D, int64_t M, int64_t N, int64_t K) {
  const int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (n >= N) return;
  for (int64_t m = blockIdx.y * int64_t(blockDim.y) + threadIdx.y; m < M; m += int64_t(gridDim.y) * blockDim.y) {
    int32_t acc = 0;
    for (int64_t k = 0; k < K; ++k) acc += int32_t(A[m * K + k]) * int32_t(B[n * K + k]);
    D[m * N + n] = acc;
  }
}

__global__ void count_mismatches(const int32_t* a, const int32_t* b, size_t count, unsigned long long* mismatches) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    if (a[i] != b[i]) atomicAdd(mismatches, 1ull);
}

unsigned long long mismatches_between(const int32_t* a, const int32_t* b, size_t count) {
  DeviceArray<unsigned long long> counter(1);
  OCTET_CUDA_CHECK(cudaMemset(counter.ptr, 0, sizeof(unsigned long long)));
  count_mismatches<<<1024, 256>>>(a, b, count, counter.ptr);
  OCTET_CUDA_CHECK_LAUNCH();
  unsigned long long host = 0;
  OCTET_CUDA_CHECK(cudaMemcpy(&host, counter.ptr, sizeof(host), cudaMemcpyDeviceToHost));
  return host;
}

#define BENCH_CUBLAS_CHECK(call)                                                                    \
  do {                                                                                              \
    const cublasStatus_t bench_status_ = (call);                                                    \
    if (bench_status_ != CUBLAS_STATUS_SUCCESS)                                                     \
      throw Error(std::string(#call) + ": " + cublasLtGetStatusString(bench_status_));              \
  } while (0)

// cuBLASLt's INT8 GEMM, D [M, N] row-major = A [M, K] · B [N, K]ᵀ. cuBLAS is column-major,
// so it computes Dᵀ (N x M) = op(B') · A' with B' = B seen as K x N (transposed: "T") and
// A' = A seen as K x M ("N"): the TN layout its int8 kernels take.
class CublasLtInt8Gemm {
 public:
  CublasLtInt8Gemm(int64_t M, int64_t N, int64_t K) : workspace_(kWorkspaceBytes) {
    BENCH_CUBLAS_CHECK(cublasLtCreate(&handle_));
    BENCH_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
    BENCH_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
    BENCH_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof(no_transpose)));
    BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_layout_, CUDA_R_8I, K, N, K));
    BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_layout_, CUDA_R_8I, K, M, K));
    BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d_layout_, CUDA_R_32I, N, M, N));
    cublasLtMatmulPreference_t preference;
    BENCH_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    const size_t workspace_bytes = kWorkspaceBytes;
    BENCH_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &workspace_bytes, sizeof(workspace_bytes)));
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle_, desc_, b_layout_, a_layout_, d_layout_,
                                                                 d_layout_, preference, 1, &heuristic_, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    BENCH_CUBLAS_CHECK(status);
    if (found == 0) throw Error("cuBLASLt has no INT8 algorithm for this shape");
  }
  ~CublasLtInt8Gemm() {
    cublasLtMatrixLayoutDestroy(d_layout_);
    cublasLtMatrixLayoutDestroy(a_layout_);
    cublasLtMatrixLayoutDestroy(b_layout_);
    cublasLtMatmulDescDestroy(desc_);
    cublasLtDestroy(handle_);
  }
  CublasLtInt8Gemm(const CublasLtInt8Gemm&) = delete;
  CublasLtInt8Gemm& operator=(const CublasLtInt8Gemm&) = delete;

  void run(const int8_t* A, const int8_t* B, int32_t* D, cudaStream_t stream) const {
    const int32_t alpha = 1, beta = 0;
    BENCH_CUBLAS_CHECK(cublasLtMatmul(handle_, desc_, &alpha, B, b_layout_, A, a_layout_, &beta, D, d_layout_, D,
                                      d_layout_, &heuristic_.algo, workspace_.ptr, kWorkspaceBytes, stream));
  }

 private:
  static constexpr size_t kWorkspaceBytes = 64ull << 20;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr, b_layout_ = nullptr, d_layout_ = nullptr;
  cublasLtMatmulHeuristicResult_t heuristic_{};
  DeviceArray<uint8_t> workspace_;
};

struct Row {
  std::string kernel;
  double tops;  // < 0: not measured
  std::string exact;
};

int run_bench(const Options& o) {
  const int64_t M = o.m, N = o.n, K = o.k;
  if (K > 131071) throw Error("K above 131071 can overflow the int32 accumulators (docs/int8_kernels.md)");
  int device = 0;
  OCTET_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  OCTET_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  std::printf("M=%lld N=%lld K=%lld, %s path\n", (long long)M, (long long)N, (long long)K,
              octet::cuda::int8_gemm_uses_tensor_cores(M, N, K) ? "tensor-core (CUTLASS)" : "plain CUDA");

  // Two input sets when they fit in half the free memory, beside the outputs.
  size_t free_bytes = 0, total_bytes = 0;
  OCTET_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const size_t set_bytes = size_t(M * K + N * K), out_bytes = size_t(M * N) * (3 * sizeof(int32_t) + 1);
  const int sets = 2 * set_bytes + out_bytes < free_bytes / 2 ? 2 : 1;
  std::vector<std::unique_ptr<DeviceArray<int8_t>>> a_sets, b_sets;
  for (int s = 0; s < sets; ++s) {
    a_sets.push_back(std::make_unique<DeviceArray<int8_t>>(size_t(M * K)));
    b_sets.push_back(std::make_unique<DeviceArray<int8_t>>(size_t(N * K)));
    fill_random_int8<<<1024, 256>>>(a_sets[s]->ptr, size_t(M * K), 1000 + 2 * s);
    OCTET_CUDA_CHECK_LAUNCH();
    fill_random_int8<<<1024, 256>>>(b_sets[s]->ptr, size_t(N * K), 1001 + 2 * s);
    OCTET_CUDA_CHECK_LAUNCH();
  }
  std::printf("input sets: %d\n", sets);

  // Per-column bias and requantization multipliers: outputs of a few hundred LSBs'
  // spread around zero, so rounding and both saturations are exercised.
  std::mt19937 rng(7);
  const double acc_spread = std::sqrt(double(K)) * 127.0 * 127.0 / 3.0;
  std::uniform_int_distribution<int32_t> bias_dist(-int32_t(std::min(acc_spread, 1e9)), int32_t(std::min(acc_spread, 1e9)));
  std::uniform_real_distribution<float> scale_dist(0.5f, 1.5f);
  std::vector<int32_t> bias(static_cast<size_t>(N));
  std::vector<float> scale(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    bias[n] = bias_dist(rng);
    scale[n] = static_cast<float>(scale_dist(rng) * 100.0 / acc_spread);
  }
  DeviceArray<int32_t> bias_d{size_t(N)};
  DeviceArray<float> scale_d{size_t(N)};
  OCTET_CUDA_CHECK(cudaMemcpy(bias_d.ptr, bias.data(), N * sizeof(int32_t), cudaMemcpyHostToDevice));
  OCTET_CUDA_CHECK(cudaMemcpy(scale_d.ptr, scale.data(), N * sizeof(float), cudaMemcpyHostToDevice));
  const octet::cuda::Int8Epilogue epilogue{bias_d.ptr, scale_d.ptr, -128.0f, 127.0f};

  DeviceArray<int32_t> reference{size_t(M * N)}, d32{size_t(M * N)}, d_cublas{size_t(M * N)};
  DeviceArray<int8_t> d8{size_t(M * N)};
  cudaStream_t stream;
  OCTET_CUDA_CHECK(cudaStreamCreate(&stream));
  const int8_t* A0 = a_sets[0]->ptr;
  const int8_t* B0 = b_sets[0]->ptr;

  // Exactness on input set 0.
  const dim3 ref_block(32, 8);
  const dim3 ref_grid(static_cast<unsigned>((N + 31) / 32), static_cast<unsigned>(std::min<int64_t>((M + 7) / 8, 65535)));
  reference_int8_gemm<<<ref_grid, ref_block>>>(A0, B0, reference.ptr, M, N, K);
  OCTET_CUDA_CHECK_LAUNCH();
  OCTET_CUDA_CHECK(cudaMemset(d32.ptr, 0x5a, M * N * sizeof(int32_t)));
  OCTET_CUDA_CHECK(cudaMemset(d8.ptr, 0x5a, M * N));
  octet::cuda::int8_gemm(A0, B0, d32.ptr, M, N, K, stream);
  octet::cuda::int8_gemm(A0, B0, d8.ptr, M, N, K, epilogue, stream);
  OCTET_CUDA_CHECK(cudaStreamSynchronize(stream));
  const unsigned long long int32_mismatches = mismatches_between(d32.ptr, reference.ptr, size_t(M * N));
  std::printf("int32 output vs naive GPU kernel: %llu of %lld elements differ\n", int32_mismatches,
              (long long)(M * N));

  const std::vector<int8_t> a_host = to_host(A0, size_t(M * K)), b_host = to_host(B0, size_t(N * K));
  const std::vector<int32_t> d32_host = to_host(d32.ptr, size_t(M * N));
  const std::vector<int8_t> d8_host = to_host(d8.ptr, size_t(M * N));
  auto cpu_dot = [&](int64_t m, int64_t n) {
    int64_t sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += int64_t(a_host[m * K + k]) * b_host[n * K + k];
    return sum;
  };
  std::uniform_int_distribution<int64_t> m_dist(0, M - 1), n_dist(0, N - 1);
  int cpu_int32_mismatches = 0;
  for (int i = 0; i < 256; ++i) {
    const int64_t m = m_dist(rng), n = n_dist(rng);
    if (cpu_dot(m, n) != d32_host[m * N + n]) ++cpu_int32_mismatches;
  }
  std::printf("int32 output vs CPU int64 sums: %d of 256 sampled elements differ\n", cpu_int32_mismatches);
  int int8_mismatches = 0, int8_saturated = 0;
  for (int i = 0; i < 4096; ++i) {
    const int64_t m = m_dist(rng), n = n_dist(rng);
    const int32_t acc = octet::int8::add_bias(static_cast<int32_t>(cpu_dot(m, n)), bias[n]);
    const int8_t expected = octet::int8::requantize(acc, scale[n], octet::int8::kMin, octet::int8::kMax);
    if (expected != d8_host[m * N + n]) {
      if (int8_mismatches < 5)
        std::printf("  int8 mismatch at (%lld, %lld): acc %d, expected %d, got %d\n", (long long)m, (long long)n, acc,
                    expected, d8_host[m * N + n]);
      ++int8_mismatches;
    }
    if (expected == -128 || expected == 127) ++int8_saturated;
  }
  std::printf("int8 output vs requantize.h on the CPU: %d of 4096 sampled elements differ (%d saturated)\n",
              int8_mismatches, int8_saturated);
  const bool int32_exact = int32_mismatches == 0 && cpu_int32_mismatches == 0;
  const bool int8_exact = int8_mismatches == 0;

  const double ops = 2.0 * double(M) * double(N) * double(K);
  auto tops = [&](double ms) { return ops / (ms * 1e-3) / 1e12; };
  std::vector<Row> rows;
  const double int32_ms = median_ms(
      [&](int s) { octet::cuda::int8_gemm(a_sets[s]->ptr, b_sets[s]->ptr, d32.ptr, M, N, K, stream); }, sets, o.iters,
      o.warmup, stream);
  rows.push_back({"octet int8_gemm -> int32", tops(int32_ms), int32_exact ? "yes" : "NO"});
  const double int8_ms = median_ms(
      [&](int s) { octet::cuda::int8_gemm(a_sets[s]->ptr, b_sets[s]->ptr, d8.ptr, M, N, K, epilogue, stream); }, sets,
      o.iters, o.warmup, stream);
  rows.push_back({"octet int8_gemm -> int8 (bias, scale)", tops(int8_ms), int8_exact ? "yes" : "NO"});

  try {
    const CublasLtInt8Gemm cublas(M, N, K);
    OCTET_CUDA_CHECK(cudaMemset(d_cublas.ptr, 0x5a, M * N * sizeof(int32_t)));
    cublas.run(A0, B0, d_cublas.ptr, stream);
    OCTET_CUDA_CHECK(cudaStreamSynchronize(stream));
    const bool cublas_exact = mismatches_between(d_cublas.ptr, reference.ptr, size_t(M * N)) == 0;
    const double cublas_ms = median_ms([&](int s) { cublas.run(a_sets[s]->ptr, b_sets[s]->ptr, d_cublas.ptr, stream); },
                                       sets, o.iters, o.warmup, stream);
    rows.push_back({"cuBLASLt INT8 (TN) -> int32", tops(cublas_ms), cublas_exact ? "yes" : "no (yardstick only)"});
  } catch (const Error& e) {
    std::printf("cuBLASLt yardstick unavailable: %s\n", e.what());
    rows.push_back({"cuBLASLt INT8 (TN) -> int32", -1.0, "-"});
  }
  OCTET_CUDA_CHECK(cudaStreamDestroy(stream));

  std::printf("\n%-40s | %8s | %s\n", "kernel", "TOPS", "exact");
  for (const Row& r : rows) {
    if (r.tops >= 0)
      std::printf("%-40s | %8.1f | %s\n", r.kernel.c_str(), r.tops, r.exact.c_str());
    else
      std::printf("%-40s | %8s | %s\n", r.kernel.c_str(), "-", r.exact.c_str());
  }
  return int32_exact && int8_exact ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_bench(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "octet_cuda_int8_gemm: %s\n", e.what());
    return 1;
  }
}
