"""`octet build --int8 --export-qdq`: the exported QDQ model is standard ONNX, and
onnxruntime running it agrees with octet running the engine."""
import os

import numpy as np
import onnx
import pytest

from conftest import (LENET, REPO, SAMPLE_MODELS, QdqRun, assert_one_line_error, check_onnxruntime_agreement,
                      needs_exact_onnxruntime_int8)

CALIBRATION_IMAGES = 256
TEST_IMAGES = 1000


def read_cache_scale(cache_path, tensor):
    """The scale of `tensor` in a TensorRT-format calibration cache ("name: <hex float32 bits>")."""
    with open(cache_path) as f:
        for line in f.read().splitlines()[1:]:
            name, bits = line.rsplit(": ", 1)
            if name == tensor:
                return float(np.frombuffer(bytes.fromhex(bits)[::-1], np.float32)[0])
    raise KeyError(tensor)


@pytest.fixture(scope="module", params=SAMPLE_MODELS)
def exported(request, run_octet, fashion_npy, infer_outputs, tmp_path_factory):
    """A QdqRun per sample model: its exported QDQ model and octet's engine's logits."""
    model = request.param
    onnx_path = os.path.join(REPO, "models", f"{model}.onnx")
    if not os.path.exists(onnx_path):
        pytest.skip(f"{onnx_path} not generated")
    folder = tmp_path_factory.mktemp(f"export_{model}")
    qdq_path, plan_path, cache_path = folder / "q.onnx", folder / "e.plan", folder / "calib.cache"
    run_octet("build", onnx_path, "--int8", "--calib-data", fashion_npy("train", CALIBRATION_IMAGES),
              "--calib-cache", cache_path, "--export-qdq", qdq_path, "-o", plan_path, "--quiet")
    x_npy = fashion_npy("test", TEST_IMAGES)
    # The logits leave the last layer in float, but calibration measured their
    # range too: its scale is the step an INT8 logit would have.
    step = read_cache_scale(cache_path, "logits")
    return QdqRun(model, qdq_path, x_npy, infer_outputs(plan_path, x_npy)["logits"], step)


def test_exported_qdq_model_is_standard_onnx(exported):
    model = onnx.load(str(exported.qdq_path))
    onnx.checker.check_model(model, full_check=True)
    op_types = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types
    assert not [n.name for n in model.graph.node if n.domain == "octet"]
    assert "octet" not in {o.domain for o in model.opset_import}


def test_exported_qdq_model_means_the_engine(exported):
    """onnxruntime running the exported Q/DQ graph as written computes what the engine does."""
    steps = check_onnxruntime_agreement(exported, int8_kernels=False)
    # Both run the same integer network with the same scales; onnxruntime sums the
    # dequantized products in float, so an intermediate int8 value near a rounding
    # tie can land one step apart, which the logits feel attenuated. Measured on an
    # AVX-512 VNNI/AMX Xeon: lenet 0, resnet 0.34, mobilenetv2 0.59 steps; 2 leaves margin.
    assert steps.max() <= 2.0


@needs_exact_onnxruntime_int8
def test_exported_qdq_model_on_onnxruntime_int8_kernels(exported):
    """The deployment path: onnxruntime fuses the exported graph into its integer kernels
    (QLinearConv, QGemm), and still agrees with the engine."""
    steps = check_onnxruntime_agreement(exported, int8_kernels=True)
    # As above; some layers (Conv + Relu) stay in float on dequantized values.
    # Measured on an AVX-512 VNNI/AMX Xeon: lenet 0, resnet 0.34, mobilenetv2 0.59 steps.
    assert steps.max() <= 2.0


def test_export_qdq_needs_int8(run_octet, tmp_path):
    proc = run_octet("build", LENET, "--export-qdq", tmp_path / "q.onnx", "-o", tmp_path / "e.plan", check=False)
    assert_one_line_error(proc, "--export-qdq", "--int8")
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "e.plan").exists()
