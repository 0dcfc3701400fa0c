# The INT8 GEMM's benchmark and tests (src/kernels/cuda/int8_gemm.cu), included from
# cmake/cuda.cmake once target octet_cuda exists.

# CUTLASS's device-side asserts are function calls inside the wgmma mainloop: ptxas then
# serialises the wgmma pipeline (warning C7510) and spills. Leave them out in every build type.
set_source_files_properties(${PROJECT_SOURCE_DIR}/src/kernels/cuda/int8_gemm.cu PROPERTIES COMPILE_DEFINITIONS NDEBUG)

# octet_cuda_int8_gemm: TOPS and exactness of int8_gemm at 8192^3 (or --m --n --k), beside cuBLASLt.
add_executable(octet_cuda_int8_gemm ${PROJECT_SOURCE_DIR}/tools/bench/cuda_int8_gemm.cu)
set_target_properties(octet_cuda_int8_gemm PROPERTIES
  CUDA_ARCHITECTURES ${OCTET_CUDA_ARCHITECTURES} CUDA_STANDARD 17)
target_include_directories(octet_cuda_int8_gemm PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(octet_cuda_int8_gemm PRIVATE octet_cuda CUDA::cublasLt)

# octet_cuda_int8_conv: ResNet-50's convolutions through every CUDA path that takes them, timed and cross-checked.
add_executable(octet_cuda_int8_conv ${PROJECT_SOURCE_DIR}/tools/bench/cuda_int8_conv.cu)
set_target_properties(octet_cuda_int8_conv PROPERTIES
  CUDA_ARCHITECTURES ${OCTET_CUDA_ARCHITECTURES} CUDA_STANDARD 17)
target_include_directories(octet_cuda_int8_conv PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(octet_cuda_int8_conv PRIVATE octet_cuda)

if(OCTET_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(kernels_cuda_int8_gemm_test ${PROJECT_SOURCE_DIR}/tests/kernels/cuda/int8_gemm_test.cu)
  set_target_properties(kernels_cuda_int8_gemm_test PROPERTIES
    CUDA_ARCHITECTURES ${OCTET_CUDA_ARCHITECTURES} CUDA_STANDARD 17)
  target_include_directories(kernels_cuda_int8_gemm_test PRIVATE
    ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(kernels_cuda_int8_gemm_test PRIVATE octet_cuda octet GTest::gtest_main)
  gtest_discover_tests(kernels_cuda_int8_gemm_test DISCOVERY_TIMEOUT 60
    PROPERTIES SKIP_REGULAR_EXPRESSION "GPU test skipped")
endif()
