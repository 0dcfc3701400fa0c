// FullyConnected, y = x W^T + b for x [N, in], W [out, in] (PyTorch's Linear):
// a plugin with weights and an INT8 path (docs/plugins.md), after the
// fully-connected layer of TensorRT's samplePlugin. Namespace "octet.examples".
//
// INT8: the input and output are INT8 with the scales octet calibrated; at
// configure() the weights are quantized per output channel (symmetric, to
// [-127, 127]) and the bias to int32 at input scale x weight scale; enqueue
// accumulates in int32 and requantizes each output to the output scale.
#include <algorithm>
#include <cmath>

#include "example_plugins.h"

namespace octet_examples {
namespace {

using octet::DType;
using octet::PluginTensorDesc;

class FullyConnectedPlugin final : public octet::IPlugin {
 public:
  FullyConnectedPlugin(int64_t out_features, int64_t in_features, std::vector<float> weight, std::vector<float> bias)
      : out_(out_features), in_(in_features), weight_(std::move(weight)), bias_(std::move(bias)) {}

  int num_outputs() const override { return 1; }
  std::vector<octet::Shape> output_shapes(const std::vector<octet::Shape>& input_shapes) const override {
    const octet::Shape& x = input_shapes.at(0);
    if (x.size() != 2 || (x[1] >= 0 && x[1] != in_))
      throw octet::Error("FullyConnected expects an input [N, " + std::to_string(in_) + "], got " + octet::shape_str(x));
    return {{x[0], out_}};
  }
  bool supports_format(size_t pos, const std::vector<PluginTensorDesc>& in_out, size_t) const override {
    const PluginTensorDesc& d = in_out[pos];
    const bool dtype_ok = pos == 0 ? d.dtype == DType::kFloat32 || d.dtype == DType::kInt8 : d.dtype == in_out[0].dtype;
    return dtype_ok && d.format == octet::PluginFormat::kLinear;
  }

  void configure(const std::vector<PluginTensorDesc>& inputs, const std::vector<PluginTensorDesc>& outputs) override {
    int8_ = inputs[0].dtype == DType::kInt8;
    if (!int8_) return;
    x_scale_ = inputs[0].scale;
    y_scale_ = outputs[0].scale;
    weight_q_.resize(weight_.size());
    weight_scales_.resize(out_);
    bias_q_.assign(out_, 0);
    for (int64_t c = 0; c < out_; ++c) {
      const float* row = &weight_[c * in_];
      float amax = 0;
      for (int64_t k = 0; k < in_; ++k) amax = std::max(amax, std::abs(row[k]));
      weight_scales_[c] = amax > 0 ? amax / 127.0f : 1.0f;
      for (int64_t k = 0; k < in_; ++k)
        weight_q_[c * in_ + k] = static_cast<int8_t>(std::clamp(std::nearbyint(row[k] / weight_scales_[c]), -127.0f, 127.0f));
      if (!bias_.empty())
        bias_q_[c] = static_cast<int32_t>(std::nearbyint(double(bias_[c]) / (double(x_scale_) * weight_scales_[c])));
    }
  }

  int enqueue(const std::vector<PluginTensorDesc>& input_descs, const std::vector<PluginTensorDesc>&,
              const std::vector<const void*>& inputs, const std::vector<void*>& outputs, void*,
              octet::PluginStream) const override {
    const int64_t batch = input_descs[0].dims[0];
    if (int8_) {
      const auto* x = static_cast<const int8_t*>(inputs[0]);
      auto* y = static_cast<int8_t*>(outputs[0]);
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < out_; ++c) {
          int32_t acc = bias_q_[c];
          for (int64_t k = 0; k < in_; ++k) acc += int32_t{x[n * in_ + k]} * weight_q_[c * in_ + k];
          const float real = static_cast<float>(double(acc) * x_scale_ * weight_scales_[c]);
          y[n * out_ + c] = static_cast<int8_t>(std::clamp(std::nearbyint(real / y_scale_), -128.0f, 127.0f));
        }
    } else {
      const auto* x = static_cast<const float*>(inputs[0]);
      auto* y = static_cast<float*>(outputs[0]);
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < out_; ++c) {
          float acc = bias_.empty() ? 0.0f : bias_[c];
          for (int64_t k = 0; k < in_; ++k) acc += x[n * in_ + k] * weight_[c * in_ + k];
          y[n * out_ + c] = acc;
        }
    }
    return 0;
  }

  // The FP32 weights: configure() quantizes them again for whichever precision octet chooses.
  size_t serialized_size() const override { return state().bytes().size(); }
  void serialize(void* buffer) const override {
    const std::string bytes = state().bytes();
    std::memcpy(buffer, bytes.data(), bytes.size());
  }

 private:
  octet::PluginStateWriter state() const {
    octet::PluginStateWriter w;
    w.put(out_);
    w.put(in_);
    w.put(weight_);
    w.put(bias_);
    return w;
  }

  int64_t out_, in_;
  std::vector<float> weight_, bias_;  // [out, in], [out] or empty
  // INT8 configuration (configure()).
  bool int8_ = false;
  float x_scale_ = 0, y_scale_ = 0;
  std::vector<int8_t> weight_q_;
  std::vector<float> weight_scales_;
  std::vector<int32_t> bias_q_;
};

class FullyConnectedCreator final : public octet::IPluginCreator {
 public:
  std::string name() const override { return "FullyConnected"; }
  std::string version() const override { return "1"; }
  std::string plugin_namespace() const override { return "octet.examples"; }
  std::vector<octet::PluginField> fields() const override {
    return {{"weight", octet::PluginFieldType::kTensor, /*required=*/true}, {"bias", octet::PluginFieldType::kTensor}};
  }
  std::unique_ptr<octet::IPlugin> create(const std::string&, const octet::PluginFields& fields) const override {
    const auto& weight = std::get<octet::Tensor>(fields.at("weight"));
    if (weight.dtype() != DType::kFloat32 || weight.rank() != 2)
      throw octet::Error("weight must be a float32 [out, in] tensor, got " + std::string(octet::dtype_name(weight.dtype())) +
                         octet::shape_str(weight.shape()));
    const float* w = weight.data<float>();
    std::vector<float> bias;
    if (auto it = fields.find("bias"); it != fields.end()) {
      const auto& b = std::get<octet::Tensor>(it->second);
      if (b.dtype() != DType::kFloat32 || b.numel() != weight.dim(0))
        throw octet::Error("bias must be float32 with " + std::to_string(weight.dim(0)) + " values, got " +
                           std::string(octet::dtype_name(b.dtype())) + octet::shape_str(b.shape()));
      bias.assign(b.data<float>(), b.data<float>() + b.numel());
    }
    return std::make_unique<FullyConnectedPlugin>(weight.dim(0), weight.dim(1), std::vector<float>(w, w + weight.numel()),
                                                  std::move(bias));
  }
  std::unique_ptr<octet::IPlugin> deserialize(const std::string&, const void* data, size_t length) const override {
    octet::PluginStateReader state(data, length, "FullyConnected state");
    const auto out = state.get<int64_t>(), in = state.get<int64_t>();
    std::vector<float> weight = state.get_vector<float>(), bias = state.get_vector<float>();
    state.expect_end();
    if (out <= 0 || in <= 0 || weight.size() != static_cast<size_t>(out * in) || (!bias.empty() && bias.size() != size_t(out)))
      throw octet::Error("FullyConnected state is corrupt (sizes do not match)");
    return std::make_unique<FullyConnectedPlugin>(out, in, std::move(weight), std::move(bias));
  }
};

}  // namespace

std::unique_ptr<octet::IPluginCreator> make_fully_connected_creator() {
  return std::make_unique<FullyConnectedCreator>();
}

}  // namespace octet_examples
