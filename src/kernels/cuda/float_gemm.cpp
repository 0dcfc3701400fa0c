// cuBLASLt is column-major: the row-major D [rows, n] is its column-major
// D^T [n, rows] = W [n, k] · A^T [k, rows], with W read transposed from its row-major
// [n, k] storage (the "TN" layout cuBLASLt's kernels are fastest in).
#include "kernels/cuda/float_gemm.h"

#include <cublasLt.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <mutex>
#include <string>

#include "octet/error.h"

namespace octet::cuda {
namespace {

void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLASLt error in ") + call + ": " + cublasLtGetStatusString(status));
}
#define OCTET_CUBLASLT_CHECK(call) check((call), #call)

// One handle for the process: cuBLASLt handles keep no stream and may be shared by threads.
cublasLtHandle_t handle() {
  static std::once_flag once;
  static cublasLtHandle_t h = nullptr;
  std::call_once(once, [] { OCTET_CUBLASLT_CHECK(cublasLtCreate(&h)); });
  return h;
}

// The largest power of two up to 256 that divides p's address. cuBLASLt's heuristic
// assumes 256-byte aligned operands unless told otherwise, and our arena's tensors sit
// at multiples of 64.
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

template <class T, cublasStatus_t (*Destroy)(T)>
struct Owned {
  T value = nullptr;
  ~Owned() {
    if (value) Destroy(value);
  }
};

}  // namespace

void float_gemm(DType type, const void* a, const void* w, void* d, int64_t rows, int64_t n, int64_t k, float alpha,
                const void* c, float beta, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (type != DType::kFloat32 && type != DType::kFloat16)
    throw Error(std::string("float_gemm: ") + std::string(dtype_name(type)) + " (float32 or float16 expected)");
  if (rows == 0 || n == 0) return;
  const cudaDataType_t data = type == DType::kFloat32 ? CUDA_R_32F : CUDA_R_16F;
  Owned<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy> op;
  OCTET_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&op.value, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transposed = CUBLAS_OP_T;
  OCTET_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op.value, CUBLASLT_MATMUL_DESC_TRANSA, &transposed,
                                                      sizeof(transposed)));
  Owned<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy> w_layout, a_layout, d_layout;
  OCTET_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&w_layout.value, data, k, n, k));
  OCTET_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&a_layout.value, data, k, rows, k));
  OCTET_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&d_layout.value, data, n, rows, n));
  Owned<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy> preference;
  OCTET_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&preference.value));
  OCTET_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference.value, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes, sizeof(workspace_bytes)));
  if (!c) beta = 0.0f;
  const void* c_or_d = c ? c : d;
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> operands[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, w},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, c_or_d},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, d}};
  for (const auto& [attribute, pointer] : operands) {
    const uint32_t alignment = alignment_of(pointer);
    OCTET_CUBLASLT_CHECK(
        cublasLtMatmulPreferenceSetAttribute(preference.value, attribute, &alignment, sizeof(alignment)));
  }
  cublasLtMatmulHeuristicResult_t best{};
  int found = 0;
  OCTET_CUBLASLT_CHECK(cublasLtMatmulAlgoGetHeuristic(handle(), op.value, w_layout.value, a_layout.value,
                                                      d_layout.value, d_layout.value, preference.value, 1, &best,
                                                      &found));
  if (found == 0)
    throw Error("cuBLASLt has no " + std::string(dtype_name(type)) + " kernel for a [" + std::to_string(rows) + ", " +
                std::to_string(k) + "] x [" + std::to_string(k) + ", " + std::to_string(n) + "] product");
  OCTET_CUBLASLT_CHECK(cublasLtMatmul(handle(), op.value, &alpha, w, w_layout.value, a, a_layout.value, &beta,
                                      c_or_d, d_layout.value, d, d_layout.value, &best.algo, workspace,
                                      workspace_bytes, stream));
}

}  // namespace octet::cuda
