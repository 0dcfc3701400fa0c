#include "numpy_tensor.h"

#include <array>

#include "octet/error.h"

namespace octet::python {

namespace {

// The element types numpy and octet share (octet's dtype names are numpy's), with
// numpy's kind character: float, signed, unsigned, bool.
struct NumpyType {
  DType dtype;
  char kind;
};
constexpr std::array<NumpyType, 12> kNumpyTypes = {{{DType::kFloat32, 'f'},
                                                    {DType::kFloat64, 'f'},
                                                    {DType::kFloat16, 'f'},
                                                    {DType::kInt8, 'i'},
                                                    {DType::kUInt8, 'u'},
                                                    {DType::kInt16, 'i'},
                                                    {DType::kUInt16, 'u'},
                                                    {DType::kInt32, 'i'},
                                                    {DType::kUInt32, 'u'},
                                                    {DType::kInt64, 'i'},
                                                    {DType::kUInt64, 'u'},
                                                    {DType::kBool, 'b'}}};

// octet's type of a numpy dtype from its kind and size, without making dtype objects
// (this runs for every input of every execute); kUndefined for other types and for
// non-native byte order.
DType octet_dtype(const py::dtype& d) {
  if (d.byteorder() == '>') return DType::kUndefined;
  for (const NumpyType& t : kNumpyTypes)
    if (t.kind == d.kind() && static_cast<py::ssize_t>(dtype_size(t.dtype)) == d.itemsize()) return t.dtype;
  return DType::kUndefined;
}

}  // namespace

py::dtype numpy_dtype(DType t) {
  for (const NumpyType& known : kNumpyTypes)
    if (known.dtype == t) return py::dtype(std::string(dtype_name(t)));
  throw Error("octet's " + std::string(dtype_name(t)) + " tensors have no numpy dtype");
}

Tensor tensor_from_numpy(py::handle value, const std::string& what) {
  py::array array = py::array::ensure(value, py::array::c_style);
  if (!array)
    throw Error(what + ": expected a numpy array, got " + std::string(py::str(py::type::handle_of(value).attr("__name__"))));
  const DType dtype = octet_dtype(array.dtype());
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
