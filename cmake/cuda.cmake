# The CUDA backend: kernels in src/kernels/cuda, the GPU execution context in
# src/runtime/cuda, built for Hopper (sm_90a: wgmma and TMA) into liboctet, with the
# CUDA runtime linked statically so that a plan-running binary needs only the driver.
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(OCTET_CUTLASS_DIR "$ENV{HOME}/.cache/octet/nvidia-cutlass-4.2.0/include" CACHE PATH
    "CUTLASS's include folder (scripts/setup.sh fetches it from PyPI's nvidia-cutlass)")
if(NOT EXISTS "${OCTET_CUTLASS_DIR}/cutlass/cutlass.h")
  message(FATAL_ERROR "OCTET_CUDA: no CUTLASS headers in ${OCTET_CUTLASS_DIR} (run scripts/setup.sh, "
                      "set -DOCTET_CUTLASS_DIR, or configure with -DOCTET_CUDA=OFF)")
endif()
set(OCTET_CUDA_ARCHITECTURES 90a)

file(GLOB_RECURSE OCTET_CUDA_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/src/kernels/cuda/*.cu ${PROJECT_SOURCE_DIR}/src/runtime/cuda/*.cu)
add_library(octet_cuda STATIC ${OCTET_CUDA_SOURCES})
set_target_properties(octet_cuda PROPERTIES
  CUDA_ARCHITECTURES ${OCTET_CUDA_ARCHITECTURES} CUDA_STANDARD 17 POSITION_INDEPENDENT_CODE ON
  CUDA_SEPARABLE_COMPILATION OFF)
target_include_directories(octet_cuda PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_include_directories(octet_cuda SYSTEM PRIVATE ${OCTET_CUTLASS_DIR})
target_compile_options(octet_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-fPIC>)
target_link_libraries(octet_cuda PUBLIC CUDA::cudart_static)
# The backend's host code (kernel registrations, the GPU execution context) is C++ in liboctet.
file(GLOB_RECURSE OCTET_CUDA_HOST_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/src/kernels/cuda/*.cpp ${PROJECT_SOURCE_DIR}/src/runtime/cuda/*.cpp)
target_sources(octet PRIVATE ${OCTET_CUDA_HOST_SOURCES})
# cuBLASLt: the float layers' matrix products (src/kernels/cuda/float_gemm.cpp).
target_link_libraries(octet PRIVATE octet_cuda CUDA::cublasLt)
target_compile_definitions(octet PRIVATE OCTET_HAVE_CUDA=1)
target_include_directories(octet PRIVATE ${CUDAToolkit_INCLUDE_DIRS})

include(cmake/cuda_gemm_targets.cmake)
include(cmake/cuda_ops_targets.cmake)
