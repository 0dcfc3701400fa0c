// Element types, with the ONNX TensorProto codes they correspond to.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace octet {

enum class DType : uint8_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
// ONNX TensorProto::DataType code -> DType; kUndefined if octet does not hold that type.
DType dtype_from_onnx(int onnx_code);

// IEEE binary16 <-> binary32, round to nearest even.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
inline float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t float_to_bfloat16(float f);

// C++ type for each element type, for templated kernels.
template <DType T> struct DTypeTraits;
template <> struct DTypeTraits<DType::kFloat32> { using type = float; };
template <> struct DTypeTraits<DType::kFloat64> { using type = double; };
template <> struct DTypeTraits<DType::kInt8> { using type = int8_t; };
template <> struct DTypeTraits<DType::kUInt8> { using type = uint8_t; };
template <> struct DTypeTraits<DType::kInt16> { using type = int16_t; };
template <> struct DTypeTraits<DType::kUInt16> { using type = uint16_t; };
template <> struct DTypeTraits<DType::kInt32> { using type = int32_t; };
template <> struct DTypeTraits<DType::kUInt32> { using type = uint32_t; };
template <> struct DTypeTraits<DType::kInt64> { using type = int64_t; };
template <> struct DTypeTraits<DType::kUInt64> { using type = uint64_t; };
template <> struct DTypeTraits<DType::kBool> { using type = bool; };

}  // namespace octet
