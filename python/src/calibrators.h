// Calibrators for Python's builder: trampolines that let a Python class subclass
// IInt8EntropyCalibrator2 & co. the way TensorRT users write them, and octet's
// ready-made calibrator (make_calibrator over a .npy file or images).
#pragma once
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "octet/calibrator.h"
#include "octet/error.h"
#include "octet/graph.h"

namespace octet::python {

namespace py = pybind11;

// What every calibrator Python's builder takes also derives from. The C++ interface
// hands getBatch raw buffers, so the builder first tells the calibrator the
// network's inputs, against which batches are checked; and a Python exception an
// override raised is kept, so the build's error can be raised from it.
class BuildAwareCalibrator {
 public:
  virtual ~BuildAwareCalibrator() = default;
  void begin_build(const std::vector<ValueInfo>& inputs);
  // The buffer getBatch fills for input `name`: its shape at the last batch size
  // getBatchSize returned. Throws naming the input.
  Shape binding_shape(const std::string& name) const;
  std::optional<py::error_already_set>& python_error() { return python_error_; }

 protected:
  // Calls a Python override; an exception it raises becomes an octet::Error
  // "<Class>.<method> raised <Type>: <message>". Needs the GIL.
  py::object call_python(const py::function& override, const char* method, py::args args = py::args()) const;
  // Copies the batch get_batch returned into the bindings, checking dtype and
  // shape per input; false when it returned None or an empty sequence. Needs the GIL.
  bool fill_bindings(const py::object& batch, const std::string& where, void* bindings[], const char* names[],
                     int count);
  // "MyCalibrator.get_batch", for messages.
  static std::string where(const py::function& override, const char* method);

  mutable int batch_size_ = 0;

 private:
  std::vector<ValueInfo> inputs_;
  mutable std::optional<py::error_already_set> python_error_;
};

// The trampoline behind every IInt8*Calibrator class Python code subclasses: each
// C++ call takes the GIL and calls the snake_case override.
template <class Base>
class PyCalibrator : public Base, public BuildAwareCalibrator {
 public:
  int getBatchSize() const override {
    py::gil_scoped_acquire gil;
    const char* method = "get_batch_size";
    py::object n = call_python(required(method), method);
    if (!py::isinstance<py::int_>(n))
      throw Error(where(required(method), method) + " must return an int, got " + type_name(n));
    batch_size_ = n.cast<int>();
    return batch_size_;
  }

  bool getBatch(void* bindings[], const char* names[], int count) override {
    py::gil_scoped_acquire gil;
    const char* method = "get_batch";
    py::list name_list;
    for (int i = 0; i < count; ++i) name_list.append(names[i]);
    py::object batch = call_python(required(method), method, py::make_tuple(name_list));
    return fill_bindings(batch, where(required(method), method), bindings, names, count);
  }

  const void* readCalibrationCache(std::size_t& length) override {
    length = 0;
    py::gil_scoped_acquire gil;
    const char* method = "read_calibration_cache";
    py::function read = py::get_override(static_cast<const Base*>(this), method);
    if (!read) return nullptr;  // optional: no cache
    py::object cache = call_python(read, method);
    if (cache.is_none()) return nullptr;
    if (!PyObject_CheckBuffer(cache.ptr()))
      throw Error(where(read, method) + " must return bytes or None, got " + type_name(cache));
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(cache).request();
    cache_.assign(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
    length = cache_.size();
    return length ? cache_.data() : nullptr;
  }

  void writeCalibrationCache(const void* ptr, std::size_t length) override {
    py::gil_scoped_acquire gil;
    const char* method = "write_calibration_cache";
    if (py::function write = py::get_override(static_cast<const Base*>(this), method))  // optional
      call_python(write, method, py::make_tuple(py::bytes(static_cast<const char*>(ptr), length)));
  }

  CalibrationAlgoType getAlgorithm() override {
    // The algorithm is the class's, except for the generic IInt8Calibrator, whose subclass says.
    if constexpr (!std::is_same_v<Base, IInt8Calibrator>) {
      return Base::getAlgorithm();
    } else {
      py::gil_scoped_acquire gil;
      const char* method = "get_algorithm";
      py::object algo = call_python(required(method), method);
      if (!py::isinstance<CalibrationAlgoType>(algo))
        throw Error(where(required(method), method) + " must return an octet.CalibrationAlgoType, got " +
                    type_name(algo));
      return algo.cast<CalibrationAlgoType>();
    }
  }

 protected:
  // The Python override of `method`; throws when the subclass lacks one. Needs the GIL.
  py::function required(const char* method) const {
    py::function override = py::get_override(static_cast<const Base*>(this), method);
    if (!override) {
      py::object self = py::cast(static_cast<const Base*>(this), py::return_value_policy::reference);
      throw Error(std::string(py::str(py::type::handle_of(self).attr("__qualname__"))) + "." + method +
                  " is not implemented: a calibrator subclass must define it");
    }
    return override;
  }
  static std::string type_name(const py::handle& value) {
    return py::str(py::type::handle_of(value).attr("__name__"));
  }

 private:
  std::string cache_;  // backs the pointer readCalibrationCache returns
};

// IInt8PercentileCalibrator's trampoline also asks for get_percentile (default 99.99).
class PyPercentileCalibrator : public PyCalibrator<IInt8PercentileCalibrator> {
 public:
  double getPercentile() const override;
};

// octet's ready-made calibrator: make_calibrator over a BatchSource. It reports
// the source's sample shape, which the builder checks against the network's input
// before the first batch (the source writes whole samples into the binding).
class ReadyMadeCalibrator : public IInt8PercentileCalibrator, public ICalibrationSampleShape {
 public:
  ReadyMadeCalibrator(CalibrationAlgoType algorithm, std::unique_ptr<BatchSource> source,
                      const CalibrationDataOptions& options, std::string cache_file, double percentile);
  int getBatchSize() const override;
  bool getBatch(void* bindings[], const char* names[], int count) override;
  const void* readCalibrationCache(std::size_t& length) override;
  void writeCalibrationCache(const void* ptr, std::size_t length) override;
  CalibrationAlgoType getAlgorithm() override;
  double getPercentile() const override;
  std::optional<Shape> calibration_sample_shape() const override;
  std::string describe_calibration_data() const override;
  const std::string& cache_file() const { return cache_file_; }

 private:
  std::string cache_file_;
  std::unique_ptr<IInt8Calibrator> calibrator_;
};

}  // namespace octet::python
