"""Explicit quantization: a QDQ model made by onnxruntime's own quantizer runs in
octet with the model's scales, and builds as INT8 without calibration data."""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from conftest import LENET, QdqRun, check_onnxruntime_agreement, needs_exact_onnxruntime_int8

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


@pytest.fixture(scope="module", params=[QuantType.QInt8, QuantType.QUInt8], ids=["s8", "u8"])
def onnxruntime_qdq(request, fashion_npy, infer_outputs, tmp_path_factory):
    """A QdqRun per activation type: onnxruntime's QDQ LeNet and octet's logits running it."""
    qdq_path = tmp_path_factory.mktemp("ort_qdq") / "lenet_qdq.onnx"
    quantize_static(LENET, str(qdq_path), BatchReader(np.load(fashion_npy("train", CALIBRATION_IMAGES))),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=request.param,
                    weight_type=QuantType.QInt8)
    x_npy = fashion_npy("test", TEST_IMAGES)
    return QdqRun(request.param, qdq_path, x_npy, infer_outputs(qdq_path, x_npy)["logits"],
                  output_step(qdq_path, "logits"))


def test_onnxruntime_qdq_model_runs_as_written(onnxruntime_qdq):
    """octet runs the Q/DQ graph with the model's scales: onnxruntime running it
    unoptimised (QuantizeLinear, DequantizeLinear, float operators) gives the same logits."""
    steps = check_onnxruntime_agreement(onnxruntime_qdq, int8_kernels=False)
    # The logits are dequantized int8 values, so they differ by whole steps: a value
    # near a rounding boundary can fall either way when float sums run in another order.
    # Measured on an AVX-512 VNNI/AMX Xeon (s8 and u8 alike: the same grid, zero point
    # shifted by 128): at most 1 step, on 4 of 5000 logits; 2 steps leaves margin.
    assert steps.max() <= 2


@needs_exact_onnxruntime_int8
def test_onnxruntime_qdq_model_on_its_int8_kernels(onnxruntime_qdq):
    """onnxruntime fuses the Q/DQ graph into integer kernels (QLinearConv, QGemm); they agree too."""
    steps = check_onnxruntime_agreement(onnxruntime_qdq, int8_kernels=True)
    # Measured on an AVX-512 VNNI/AMX Xeon: at most 1 step, on 3 of 5000 logits; 2 steps leaves margin.
    assert steps.max() <= 2


def test_onnxruntime_qdq_model_builds_int8_without_calibration(onnxruntime_qdq, run_octet, tmp_path):
    plan_path = tmp_path / "e.plan"
    run_octet("build", onnxruntime_qdq.qdq_path, "--int8", "-o", plan_path, "--quiet")
    assert "calibration: explicit (Q/DQ)" in run_octet("inspect", plan_path).stdout
