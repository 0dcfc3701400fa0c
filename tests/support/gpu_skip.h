// GPU tests skip (with the reason) where no CUDA device runs octet's kernels, as on CI.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "octet/device.h"

#define OCTET_SKIP_WITHOUT_CUDA_DEVICE()                                           \
  do {                                                                             \
    const std::string octet_why_ = ::octet::why_no_cuda_device();                  \
    if (!octet_why_.empty()) GTEST_SKIP() << "GPU test skipped: " << octet_why_;   \
  } while (0)
