"""`octet infer` on the sample models matches onnxruntime to 1e-4 relative."""
import os

import numpy as np
import onnxruntime as ort
import pytest

import fashion_mnist_npy
from conftest import REPO, SAMPLE_MODELS


@pytest.mark.parametrize("model", SAMPLE_MODELS)
def test_infer_matches_onnxruntime(model, run_octet, tmp_path):
    onnx_path = os.path.join(REPO, "models", f"{model}.onnx")
    x, _ = fashion_mnist_npy.load("test", count=64)
    np.save(tmp_path / "x.npy", x)
    run_octet("infer", onnx_path, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out")
    got = np.load(tmp_path / "out" / "logits.npy")

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x})[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    # Relative to each value, with a floor at 1e-4 of the output's scale for values near zero.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert (got.argmax(1) == want.argmax(1)).all()
