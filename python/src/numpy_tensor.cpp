#include "numpy_tensor.h"

#include <array>

#include "octet/error.h"

namespace octet::python {

namespace {

// The element types numpy and octet share (octet's dtype names are numpy's).
constexpr std::array kNumpyTypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8,
                                    DType::kUInt8,   DType::kInt16,   DType::kUInt16,  DType::kInt32,
                                    DType::kUInt32,  DType::kInt64,   DType::kUInt64,  DType::kBool};

}  // namespace

py::dtype numpy_dtype(DType t) {
  for (DType known : kNumpyTypes)
    if (known == t) return py::dtype(std::string(dtype_name(t)));
  throw Error("octet's " + std::string(dtype_name(t)) + " tensors have no numpy dtype");
}

Tensor tensor_from_numpy(py::handle value, const std::string& what) {
  py::array array = py::array::ensure(value, py::array::c_style);
  if (!array)
    throw Error(what + ": expected a numpy array, got " + std::string(py::str(py::type::handle_of(value).attr("__name__"))));
  DType dtype = DType::kUndefined;
  for (DType t : kNumpyTypes)
    if (array.dtype().equal(numpy_dtype(t))) dtype = t;
  if (dtype == DType::kUndefined)
    throw Error(what + ": numpy dtype " + std::string(py::str(array.dtype())) + " has no octet equivalent");
  Shape shape(array.shape(), array.shape() + array.ndim());
  // The tensor holds a reference to the array; it may be released on a thread without the GIL.
  std::shared_ptr<void> owner(new py::object(array), [](void* held) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(held);
  });
  // Graph inputs are never written by the executor, so a read-only array is safe to view.
  return Tensor::view(dtype, std::move(shape), const_cast<void*>(array.data()), std::move(owner));
}

py::array numpy_from_tensor(const Tensor& t) {
  py::dtype dtype = numpy_dtype(t.dtype());
  auto* kept = new Tensor(t);  // shares the buffer; freed with the array
  py::capsule base(kept, [](void* held) { delete static_cast<Tensor*>(held); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::array(dtype, shape, {}, kept->raw(), base);
}

}  // namespace octet::python
