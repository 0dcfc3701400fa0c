#include "octet/tensor.h"

#include "kernels/reference/strided_copy.h"

#include <cstring>
#include <random>
#include <sstream>

namespace octet {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

Tensor::Tensor(DType dtype, Shape shape) : Tensor(uninitialized(dtype, std::move(shape))) {
  std::memset(data_, 0, nbytes());
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error("tensor shape " + shape_str(shape) + " has a negative dimension");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  // Keep at least one byte so data() is never null, and 64-byte alignment for SIMD kernels.
  size_t alloc = (t.nbytes() + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = ::operator new(alloc, std::align_val_t(64));
  t.owner_ = std::shared_ptr<void>(p, [](void* q) { ::operator delete(q, std::align_val_t(64)); });
  t.data_ = p;
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw Error("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::batch_slice(int64_t begin, int64_t count) const {
  if (shape_.empty() || begin < 0 || count < 0 || begin + count > shape_[0])
    throw Error("cannot take samples [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ") of " +
                shape_str(shape_));
  Tensor t = *this;
  t.shape_[0] = count;
  if (shape_[0] > 0) t.data_ = static_cast<char*>(data_) + begin * (nbytes() / shape_[0]);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

double Tensor::get_as_double(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32: return data<float>()[i];
    case DType::kFloat64: return data<double>()[i];
    case DType::kFloat16: return half_to_float(data<uint16_t>()[i]);
    case DType::kBFloat16: return bfloat16_to_float(data<uint16_t>()[i]);
    case DType::kInt8: return data<int8_t>()[i];
    case DType::kUInt8: return data<uint8_t>()[i];
    case DType::kInt16: return data<int16_t>()[i];
    case DType::kUInt16: return data<uint16_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kUInt32: return data<uint32_t>()[i];
    case DType::kInt64: return static_cast<double>(data<int64_t>()[i]);
    case DType::kUInt64: return static_cast<double>(data<uint64_t>()[i]);
    case DType::kBool: return data<bool>()[i] ? 1.0 : 0.0;
    case DType::kUndefined: break;
  }
  throw Error("tensor has no element type");
}

void Tensor::set_from_double(int64_t i, double v) {
  switch (dtype_) {
    case DType::kFloat32: data<float>()[i] = static_cast<float>(v); return;
    case DType::kFloat64: data<double>()[i] = v; return;
    case DType::kFloat16: data<uint16_t>()[i] = float_to_half(static_cast<float>(v)); return;
    case DType::kBFloat16: data<uint16_t>()[i] = float_to_bfloat16(static_cast<float>(v)); return;
    case DType::kInt8: data<int8_t>()[i] = static_cast<int8_t>(v); return;
    case DType::kUInt8: data<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    case DType::kInt16: data<int16_t>()[i] = static_cast<int16_t>(v); return;
    case DType::kUInt16: data<uint16_t>()[i] = static_cast<uint16_t>(v); return;
    case DType::kInt32: data<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DType::kUInt32: data<uint32_t>()[i] = static_cast<uint32_t>(v); return;
    case DType::kInt64: data<int64_t>()[i] = static_cast<int64_t>(v); return;
    case DType::kUInt64: data<uint64_t>()[i] = static_cast<uint64_t>(v); return;
    case DType::kBool: data<bool>()[i] = v != 0.0; return;
    case DType::kUndefined: break;
  }
  throw Error("tensor has no element type");
}

std::vector<float> Tensor::to_floats() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::kFloat32) {
    std::memcpy(out.data(), data_, nbytes());
  } else {
    for (int64_t i = 0; i < numel(); ++i) out[i] = static_cast<float>(get_as_double(i));
  }
  return out;
}

std::vector<int64_t> Tensor::to_int64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::kInt64) {
    std::memcpy(out.data(), data_, nbytes());
  } else if (dtype_ == DType::kInt32) {
    for (int64_t i = 0; i < numel(); ++i) out[i] = data<int32_t>()[i];
  } else {
    throw Error("expected an int32 or int64 tensor, got " + std::string(dtype_name(dtype_)));
  }
  return out;
}

Tensor random_tensor(DType dtype, Shape shape, uint32_t seed) {
  Tensor t(dtype, std::move(shape));
  if (dtype == DType::kFloat32) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  }
  return t;
}

Tensor permuted(const Tensor& t, const std::vector<int64_t>& perm) {
  Tensor out = Tensor::uninitialized(t.dtype(), permuted_shape(t.shape(), perm));
  copy_permuted(t, perm, out);
  return out;
}

}  // namespace octet
