// A dense, row-major tensor: element type, shape and a (shared) byte buffer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/dtype.h"
#include "octet/error.h"

namespace octet {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  // Allocates a zero-filled buffer.
  Tensor(DType dtype, Shape shape);
  // Allocates without filling, for producers that write every element.
  static Tensor uninitialized(DType dtype, Shape shape);
  // Wraps memory owned by `owner` (e.g. a mapped plan file) without copying.
  static Tensor view(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool empty() const { return dtype_ == DType::kUndefined; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }

  // Same buffer, new shape (element count must match).
  Tensor reshaped(Shape shape) const;
  // Same buffer: samples [begin, begin + count) along dim 0.
  Tensor batch_slice(int64_t begin, int64_t count) const;
  // Deep copy.
  Tensor clone() const;

  // Element i converted to double / stored from double (any numeric dtype), for
  // dtype-generic reference code where speed does not matter.
  double get_as_double(int64_t i) const;
  void set_from_double(int64_t i, double v);
  // Whole tensor converted to float32 (copy), and back.
  std::vector<float> to_floats() const;
  // Values as int64 (for shape-like inputs: int32 or int64 tensors).
  std::vector<int64_t> to_int64s() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

// A copy of `t` with its axes permuted: axis i of the result is axis perm[i] of t
// (ONNX Transpose), e.g. {0, 3, 1, 2} turns a channels-last [N, H, W, C] into NCHW.
Tensor permuted(const Tensor& t, const std::vector<int64_t>& perm);

// Seeded sample data for benchmarks and kernel timing: uniform [-1, 1) for float32, zeros otherwise.
Tensor random_tensor(DType dtype, Shape shape, uint32_t seed);

}  // namespace octet
