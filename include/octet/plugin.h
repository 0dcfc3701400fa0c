// Plugins: layers that users implement themselves, with the lifecycle of
// TensorRT's IPluginV2 family (docs/plugins.md). An ONNX node whose op has no
// built-in kernel runs the registered plugin of that name; a plan stores each
// plugin's name, version, namespace and serialized state, and its creator
// rebuilds the plugin from that state when the plan is loaded.
#pragma once
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "octet/graph.h"

namespace octet {

// Memory layout of a plugin's 4-D tensors; tensors of other ranks are always kLinear.
enum class PluginFormat : uint8_t {
  kLinear,        // row-major in the ONNX order: NCHW
  kChannelsLast,  // NHWC
};

struct PluginTensorDesc {
  DType dtype = DType::kFloat32;  // kFloat32, kFloat16 or kInt8
  PluginFormat format = PluginFormat::kLinear;
  Shape dims;       // in memory order (NHWC for kChannelsLast); -1 where known only at run time
  float scale = 0;  // kInt8: real value = q * scale (symmetric, zero point 0); 0 otherwise
};

// The stream work is issued on: nullptr on the CPU (enqueue runs synchronously);
// a GPU backend passes its stream here.
using PluginStream = void*;

class IPlugin {
 public:
  virtual ~IPlugin() = default;

  // --- Shapes and formats (asked while building, and when a plan is loaded)
  virtual int num_outputs() const = 0;
  // Output dims (memory order) for these input dims; called before every run.
  virtual std::vector<Shape> output_shapes(const std::vector<Shape>& input_shapes) const = 0;
  // Whether the tensor at `pos` (inputs first, then outputs; `num_inputs` of them
  // are inputs) may have the dtype and format in in_out[pos], given the choices
  // in in_out[0 .. pos-1] (TensorRT's supportsFormatCombination).
  virtual bool supports_format(size_t pos, const std::vector<PluginTensorDesc>& in_out, size_t num_inputs) const = 0;
  // The formats octet chose (dims may hold -1); called once before initialize().
  virtual void configure(const std::vector<PluginTensorDesc>& inputs, const std::vector<PluginTensorDesc>& outputs) = 0;
  // Scratch bytes enqueue needs for these tensors (given fresh to every call).
  virtual size_t workspace_size(const std::vector<PluginTensorDesc>& inputs,
                                const std::vector<PluginTensorDesc>& outputs) const {
    return 0;
  }

  // --- Resources: initialize() after configure, terminate() before destruction.
  virtual void initialize() {}
  virtual void terminate() {}

  // --- Execution. Called for every run, possibly from several threads at once
  // (execution contexts share one plugin), hence const. Returns 0 on success; any
  // other status fails the run with an error naming the layer.
  virtual int enqueue(const std::vector<PluginTensorDesc>& input_descs,
                      const std::vector<PluginTensorDesc>& output_descs, const std::vector<const void*>& inputs,
                      const std::vector<void*>& outputs, void* workspace, PluginStream stream) const = 0;

  // --- Serialization into the plan: the creator's deserialize() gets these bytes back.
  virtual size_t serialized_size() const = 0;
  virtual void serialize(void* buffer) const = 0;
};

// The kinds of a plugin field: the ONNX attribute types, in Attribute's order.
enum class PluginFieldType : uint8_t { kInt, kFloat, kString, kTensor, kInts, kFloats, kStrings };

// One field a creator accepts (an attribute of the ONNX node).
struct PluginField {
  std::string name;
  PluginFieldType type;
  bool required = false;
};

// Field values by name, as the ONNX node's attributes hold them.
using PluginFields = std::map<std::string, Attribute>;

class IPluginCreator {
 public:
  virtual ~IPluginCreator() = default;
  virtual std::string name() const = 0;  // the ONNX op type it implements
  virtual std::string version() const = 0;
  virtual std::string plugin_namespace() const { return ""; }
  // Every field create() accepts; a node with another attribute, or without a required one, is refused.
  virtual std::vector<PluginField> fields() const = 0;
  // A plugin for the layer `layer_name` from its fields; throws octet::Error for invalid values.
  virtual std::unique_ptr<IPlugin> create(const std::string& layer_name, const PluginFields& fields) const = 0;
  // The plugin serialize() wrote these bytes for (when a plan is loaded).
  virtual std::unique_ptr<IPlugin> deserialize(const std::string& layer_name, const void* data, size_t length) const = 0;
};

// Every creator octet knows, keyed by (name, version, namespace). Thread-safe.
class PluginRegistry {
 public:
  static PluginRegistry& global();
  // Throws octet::Error when a creator with the same key is already registered.
  void register_creator(std::unique_ptr<IPluginCreator> creator);
  // Removes that creator; false when none was registered.
  bool deregister_creator(const std::string& name, const std::string& version, const std::string& plugin_namespace);
  // The creator with that key, or nullptr; valid until that creator is deregistered.
  const IPluginCreator* find(const std::string& name, const std::string& version,
                             const std::string& plugin_namespace) const;
  // "FullyConnected 1 (octet.examples), Swish 1", or "none": for error messages.
  std::string describe() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<IPluginCreator>> creators_;
};

// Loads a plugin library and calls its entry point (kPluginEntryPoint), which
// registers its creators. Loading the same library again does nothing. Throws
// octet::Error naming the file and dlerror() when it cannot be loaded, and the
// file when it has no entry point or registration fails.
void load_plugin_library(const std::string& path);

// The function every plugin library exports:
//   extern "C" void octet_register_plugins(octet::PluginRegistry& registry);
inline constexpr const char* kPluginEntryPoint = "octet_register_plugins";

// Bounds-checked helpers for a plugin's serialized state (trivially copyable values and vectors of them).
class PluginStateWriter {
 public:
  template <class T> void put(const T& value) { append(&value, sizeof value); }
  template <class T> void put(const std::vector<T>& values) {
    put<uint64_t>(values.size());
    append(values.data(), values.size() * sizeof(T));
  }
  const std::string& bytes() const { return bytes_; }

 private:
  void append(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  std::string bytes_;
};

class PluginStateReader {
 public:
  // `what` names the state in errors, e.g. "plugin FullyConnected state".
  PluginStateReader(const void* data, size_t length, std::string what)
      : data_(static_cast<const char*>(data)), length_(length), what_(std::move(what)) {}
  template <class T> T get() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);
    return value;
  }
  template <class T> std::vector<T> get_vector() {
    const auto n = get<uint64_t>();
    if (n > (length_ - pos_) / sizeof(T)) throw Error(what_ + " is truncated or corrupt");
    std::vector<T> values(n);
    std::memcpy(values.data(), take(n * sizeof(T)), n * sizeof(T));
    return values;
  }
  // Throws unless every byte was read.
  void expect_end() const {
    if (pos_ != length_) throw Error(what_ + " has " + std::to_string(length_ - pos_) + " unexpected trailing bytes");
  }

 private:
  const char* take(size_t n) {
    if (n > length_ - pos_) throw Error(what_ + " is truncated");
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  const char* data_;
  size_t length_, pos_ = 0;
  std::string what_;
};

}  // namespace octet
