"""Explicit quantization: a QDQ model made by onnxruntime's own quantizer runs in
octet with the model's scales, and builds as INT8 without calibration data."""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from conftest import compare_with_onnxruntime, LENET

CALIBRATION_IMAGES = 128
TEST_IMAGES = 500


class BatchReader(CalibrationDataReader):
    """Feeds `x` to onnxruntime's calibration in batches."""
    def __init__(self, x, batch=32):
        self.batches = iter([{"input": x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.batches, None)


def output_step(model_path, output):
    """The scale of the DequantizeLinear that writes `output`: the step between its values."""
    model = onnx.load(str(model_path))
    producer = next(n for n in model.graph.node if output in n.output)
    assert producer.op_type == "DequantizeLinear"
    scale = next(i for i in model.graph.initializer if i.name == producer.input[1])
    return float(numpy_helper.to_array(scale))


@pytest.mark.parametrize("activation_type", [QuantType.QInt8, QuantType.QUInt8], ids=["s8", "u8"])
def test_onnxruntime_qdq_model(activation_type, run_octet, fashion_npy, infer_outputs, tmp_path):
    qdq_path = tmp_path / "lenet_qdq.onnx"
    quantize_static(LENET, str(qdq_path), BatchReader(np.load(fashion_npy("train", CALIBRATION_IMAGES))),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=activation_type,
                    weight_type=QuantType.QInt8)

    x_npy = fashion_npy("test", TEST_IMAGES)
    step = output_step(qdq_path, "logits")
    agreement, steps = compare_with_onnxruntime(infer_outputs(qdq_path, x_npy)["logits"], qdq_path, x_npy, step)
    print(f"{activation_type}: top-1 agreement {agreement:.4f}, |octet - onnxruntime| max {steps.max():.2f} steps, "
          f"{(steps > 0).sum()} of {steps.size} logits differ (step {step:.4g})")
    assert agreement >= 0.99
    # The logits are dequantized int8 values, so they differ by whole steps. octet
    # runs the Q/DQ graph in FP32 while onnxruntime fuses it into integer kernels
    # (QLinearConv, QGemm), so a value near a rounding boundary can fall either way.
    # Measured (s8 and u8 alike: the same grid, zero point shifted by 128): at most
    # 1 step, on 3 of 5000 logits; 2 steps leaves margin.
    assert steps.max() <= 2

    plan_path = tmp_path / "e.plan"
    run_octet("build", qdq_path, "--int8", "-o", plan_path, "--quiet")
    assert "calibration: explicit (Q/DQ)" in run_octet("inspect", plan_path).stdout
