#include "calibrators.h"

#include <pybind11/numpy.h>

#include <cstring>

namespace octet::python {

void BuildAwareCalibrator::begin_build(const std::vector<ValueInfo>& inputs) {
  inputs_ = inputs;
  python_error_.reset();
}

Shape BuildAwareCalibrator::binding_shape(const std::string& name) const {
  for (const auto& input : inputs_)
    if (input.name == name) return input.shape_at_batch(batch_size_);
  throw Error("the calibrator was asked for '" + name + "', which is not an input of the network being built");
}

std::string BuildAwareCalibrator::where(const py::function& override, const char* method) {
  py::object self = py::getattr(override, "__self__", py::none());  // absent for a plain function
  const std::string owner = self.is_none() ? "calibrator" : std::string(py::str(py::type::handle_of(self).attr("__qualname__")));
  return owner + "." + method;
}

py::object BuildAwareCalibrator::call_python(const py::function& override, const char* method, py::args args) const {
  try {
    return override(*args);
  } catch (py::error_already_set& e) {
    python_error_ = e;
    throw Error(where(override, method) + " raised " +
                std::string(py::str(e.type().attr("__name__"))) + ": " + std::string(py::str(e.value())));
  }
}

bool BuildAwareCalibrator::fill_bindings(const py::object& batch, const std::string& where, void* bindings[],
                                         const char* names[], int count) {
  if (batch.is_none()) return false;
  // One array per input: a list/tuple in `names` order (TensorRT's form), a dict by
  // name, or a bare array when there is one input.
  std::vector<py::object> arrays;
  if (py::isinstance<py::dict>(batch)) {
    auto by_name = py::reinterpret_borrow<py::dict>(batch);
    for (int i = 0; i < count; ++i) {
      if (!by_name.contains(names[i])) throw Error(where + " returned no array for input '" + names[i] + "'");
      arrays.push_back(by_name[names[i]]);
    }
  } else if (py::isinstance<py::list>(batch) || py::isinstance<py::tuple>(batch)) {
    auto items = py::reinterpret_borrow<py::sequence>(batch);
    if (items.size() == 0) return false;
    if (items.size() != static_cast<size_t>(count))
      throw Error(where + " returned " + std::to_string(items.size()) + " arrays for " + std::to_string(count) +
                  " inputs");
    for (auto item : items) arrays.push_back(py::reinterpret_borrow<py::object>(item));
  } else if (count == 1) {
    arrays.push_back(batch);
  } else {
    throw Error(where + " must return a list of arrays (one per input), a dict or None");
  }

  for (int i = 0; i < count; ++i) {
    const std::string input = std::string("input '") + names[i] + "'";
    if (py::isinstance<py::int_>(arrays[i]))
      throw Error(where + ": " + input + " is an int; octet takes numpy arrays (host memory), not device pointers");
    py::array array = py::array::ensure(arrays[i]);
    if (!array)
      throw Error(where + ": " + input + " must be a numpy array, got " +
                  std::string(py::str(py::type::handle_of(arrays[i]).attr("__name__"))));
    if (!array.dtype().equal(py::dtype::of<float>()))
      throw Error(where + ": " + input + " must be float32, got " + std::string(py::str(array.dtype())));
    const Shape want = binding_shape(names[i]);
    const Shape got(array.shape(), array.shape() + array.ndim());
    if (got != want)
      throw Error(where + ": " + input + " must have shape " + shape_str(want) + " (batch size " +
                  std::to_string(batch_size_) + "), got " + shape_str(got));
    auto contiguous = py::array_t<float, py::array::c_style>::ensure(array);  // copies only a strided array
    std::memcpy(bindings[i], contiguous.data(), static_cast<size_t>(shape_numel(want)) * sizeof(float));
  }
  return true;
}

double PyPercentileCalibrator::getPercentile() const {
  py::gil_scoped_acquire gil;
  const char* method = "get_percentile";
  py::function get = py::get_override(static_cast<const IInt8PercentileCalibrator*>(this), method);
  if (!get) return IInt8PercentileCalibrator::getPercentile();
  py::object percentile = call_python(get, method);
  if (!py::isinstance<py::float_>(percentile) && !py::isinstance<py::int_>(percentile))
    throw Error(where(get, method) + " must return a number, got " + type_name(percentile));
  const double p = percentile.cast<double>();
  if (!(p > 0 && p <= 100)) throw Error(where(get, method) + " returned " + std::to_string(p) + ", not in (0, 100]");
  return p;
}

ReadyMadeCalibrator::ReadyMadeCalibrator(CalibrationAlgoType algorithm, std::unique_ptr<BatchSource> source,
                                         const CalibrationDataOptions& options, std::string cache_file,
                                         double percentile)
    : cache_file_(std::move(cache_file)) {
  calibrator_ = make_calibrator(algorithm, std::move(source), options, cache_file_, percentile);
}

int ReadyMadeCalibrator::getBatchSize() const { return calibrator_->getBatchSize(); }

bool ReadyMadeCalibrator::getBatch(void* bindings[], const char* names[], int count) {
  return calibrator_->getBatch(bindings, names, count);  // refuses count != 1 itself
}

std::optional<Shape> ReadyMadeCalibrator::calibration_sample_shape() const {
  return dynamic_cast<const ICalibrationSampleShape&>(*calibrator_).calibration_sample_shape();
}

std::string ReadyMadeCalibrator::describe_calibration_data() const {
  return dynamic_cast<const ICalibrationSampleShape&>(*calibrator_).describe_calibration_data();
}

const void* ReadyMadeCalibrator::readCalibrationCache(std::size_t& length) {
  return calibrator_->readCalibrationCache(length);
}

void ReadyMadeCalibrator::writeCalibrationCache(const void* ptr, std::size_t length) {
  calibrator_->writeCalibrationCache(ptr, length);
}

CalibrationAlgoType ReadyMadeCalibrator::getAlgorithm() { return calibrator_->getAlgorithm(); }

double ReadyMadeCalibrator::getPercentile() const {
  // make_calibrator's calibrators are percentile calibrators, reporting the percentile they were given.
  return dynamic_cast<const IInt8PercentileCalibrator&>(*calibrator_).getPercentile();
}

}  // namespace octet::python
