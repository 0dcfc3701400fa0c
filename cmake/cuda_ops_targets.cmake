# Tests of the CUDA backend's elementwise, transpose, pooling, im2col and direct
# convolution kernels (src/kernels/cuda/cuda_ops.cu). Included from cmake/cuda.cmake;
# the tests skip themselves where no sm_90 device runs.
if(OCTET_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(kernels_cuda_cuda_ops_test ${PROJECT_SOURCE_DIR}/tests/kernels/cuda/cuda_ops_test.cu)
  set_target_properties(kernels_cuda_cuda_ops_test PROPERTIES CUDA_ARCHITECTURES ${OCTET_CUDA_ARCHITECTURES} CUDA_STANDARD 17)
  target_include_directories(kernels_cuda_cuda_ops_test PRIVATE
    ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(kernels_cuda_cuda_ops_test PRIVATE octet_cuda octet GTest::gtest_main)
  gtest_discover_tests(kernels_cuda_cuda_ops_test PROPERTIES SKIP_REGULAR_EXPRESSION "GPU test skipped")
endif()
