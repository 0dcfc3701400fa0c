// numpy .npy files (format 1.0-3.0, little-endian, C order).
#pragma once
#include <string>

#include "octet/tensor.h"

namespace octet {

struct NpyHeader {
  DType dtype = DType::kUndefined;
  Shape shape;
  int64_t data_offset = 0;  // where the C-ordered element data starts
};

// Throws octet::Error naming the file when it is missing, truncated, Fortran-ordered
// or of an element type octet does not hold.
Tensor read_npy(const std::string& path);
// Just the header (and a check that the file holds all the data), for readers
// that stream samples instead of loading the array.
NpyHeader read_npy_header(const std::string& path);
// Writes atomically (temporary file, then rename).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace octet
