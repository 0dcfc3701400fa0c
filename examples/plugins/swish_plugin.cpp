// Swish, y = x * sigmoid(beta * x): an elementwise plugin (docs/plugins.md).
// FP32 only, so in an INT8 network octet runs it between DequantizeLinear and
// QuantizeLinear; being elementwise, it accepts NCHW and channels-last alike, so
// octet's layout pass needs no Transposes around it.
#include <cmath>

#include "example_plugins.h"

namespace octet_examples {
namespace {

class SwishPlugin final : public octet::IPlugin {
 public:
  explicit SwishPlugin(float beta) : beta_(beta) {}

  int num_outputs() const override { return 1; }
  std::vector<octet::Shape> output_shapes(const std::vector<octet::Shape>& input_shapes) const override {
    return {input_shapes.at(0)};
  }
  bool supports_format(size_t pos, const std::vector<octet::PluginTensorDesc>& in_out, size_t) const override {
    // float32 everywhere, and the output in the input's format.
    return in_out[pos].dtype == octet::DType::kFloat32 && in_out[pos].format == in_out[0].format;
  }
  void configure(const std::vector<octet::PluginTensorDesc>&, const std::vector<octet::PluginTensorDesc>&) override {}

  int enqueue(const std::vector<octet::PluginTensorDesc>& input_descs, const std::vector<octet::PluginTensorDesc>&,
              const std::vector<const void*>& inputs, const std::vector<void*>& outputs, void*,
              octet::PluginStream) const override {
    int64_t n = 1;
    for (int64_t d : input_descs[0].dims) n *= d;
    const auto* x = static_cast<const float*>(inputs[0]);
    auto* y = static_cast<float*>(outputs[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-beta_ * x[i]));
    return 0;
  }

  size_t serialized_size() const override { return sizeof beta_; }
  void serialize(void* buffer) const override { std::memcpy(buffer, &beta_, sizeof beta_); }

 private:
  float beta_;
};

class SwishCreator final : public octet::IPluginCreator {
 public:
  std::string name() const override { return "Swish"; }
  std::string version() const override { return "1"; }
  std::vector<octet::PluginField> fields() const override { return {{"beta", octet::PluginFieldType::kFloat}}; }
  std::unique_ptr<octet::IPlugin> create(const std::string&, const octet::PluginFields& fields) const override {
    auto it = fields.find("beta");
    return std::make_unique<SwishPlugin>(it == fields.end() ? 1.0f : std::get<float>(it->second));
  }
  std::unique_ptr<octet::IPlugin> deserialize(const std::string&, const void* data, size_t length) const override {
    octet::PluginStateReader state(data, length, "Swish state");
    const auto beta = state.get<float>();
    state.expect_end();
    return std::make_unique<SwishPlugin>(beta);
  }
};

}  // namespace

std::unique_ptr<octet::IPluginCreator> make_swish_creator() { return std::make_unique<SwishCreator>(); }

}  // namespace octet_examples
