// numpy arrays <-> octet::Tensor without copying: an input array is viewed in
// place (kept alive by the tensor), an output tensor's buffer becomes the array's.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "octet/tensor.h"

namespace octet::python {

namespace py = pybind11;

// The numpy dtype of an octet element type; throws octet::Error for one numpy lacks (bfloat16).
py::dtype numpy_dtype(DType t);

// A view of `value` (a numpy array, or anything np.asarray accepts) as a tensor of
// its own dtype; a non-contiguous array is copied to C order first. `what` names the
// value in errors, e.g. "input 'x'". Needs the GIL.
Tensor tensor_from_numpy(py::handle value, const std::string& what);

// An array over the tensor's buffer (the array keeps the buffer alive). Needs the GIL.
py::array numpy_from_tensor(const Tensor& t);

}  // namespace octet::python
