// numpy .npy files (format 1.0-3.0, little-endian, C order).
#pragma once
#include <string>

#include "octet/tensor.h"

namespace octet {

// Throws octet::Error naming the file when it is missing, truncated, Fortran-ordered
// or of an element type octet does not hold.
Tensor read_npy(const std::string& path);
// Writes atomically (temporary file, then rename).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace octet
