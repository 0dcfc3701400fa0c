// Asserts that two runs' outputs are the same tensors, byte for byte.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "octet/executor.h"

namespace octet::testing {

inline void expect_identical(const TensorMap& a, const TensorMap& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << what << ": " << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.dtype(), u.dtype()) << what << ": " << name;
    ASSERT_EQ(t.shape(), u.shape()) << what << ": " << name;
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << what << ": " << name << " differs";
  }
}

}  // namespace octet::testing
