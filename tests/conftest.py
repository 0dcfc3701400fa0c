"""Shared pytest fixtures: where the built `octet` tool is, and the repo's scripts."""
import collections
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from bench_engine import lscpu, machine_description  # noqa: E402


@pytest.fixture(scope="session")
def octet_cli():
    build = os.environ.get("OCTET_BUILD_DIR", os.path.join(REPO, "build"))
    path = os.path.join(build, "octet")
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: build first (scripts/build.sh) or set OCTET_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def run_octet(octet_cli):
    """run_octet(*args) -> CompletedProcess; raises with stderr when the tool fails."""
    def run(*args, check=True):
        proc = subprocess.run([octet_cli, *map(str, args)], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"octet {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
        return proc
    return run


SAMPLE_MODELS = ["lenet", "resnet", "mobilenetv2"]


# ---- Shared by the INT8 build and plan tests (tests/tools/test_int8_build.py, test_plan_roundtrip.py).

LENET = os.path.join(REPO, "models", "lenet.onnx")


@pytest.fixture(scope="session")
def fashion_npy(tmp_path_factory):
    """fashion_npy(split, count, offset=0) -> path of a .npy of preprocessed Fashion-MNIST images (made once)."""
    import fashion_mnist_npy

    folder = tmp_path_factory.mktemp("fashion_npy")
    made = {}

    def make(split, count, offset=0):
        key = (split, count, offset)
        if key not in made:
            x, _ = fashion_mnist_npy.load(split, count, offset)
            made[key] = folder / f"{split}_{count}_{offset}.npy"
            np.save(made[key], x)
        return made[key]
    return make


@pytest.fixture(scope="session")
def infer_outputs(run_octet, tmp_path_factory):
    """infer_outputs(model_or_plan, x_npy, *options) -> {output name: ndarray}, from its own `octet infer`
    process (options: e.g. "--plugins", library)."""

    def infer(model, x_npy, *options):
        out_dir = tmp_path_factory.mktemp("infer")
        run_octet("infer", model, *options, "--input", x_npy, "--output-dir", out_dir)
        return {p.stem: np.load(p) for p in sorted(out_dir.glob("*.npy"))}
    return infer


def assert_one_line_error(proc, *needles):
    """A clean failure: non-zero exit (no crash) and exactly one stderr line holding every needle."""
    assert proc.returncode > 0, f"exit {proc.returncode} (negative: killed by a signal): {proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {proc.stderr}"
    for needle in needles:
        assert str(needle) in lines[0], f"{needle!r} not in: {lines[0]}"


# onnxruntime's U8S8 integer kernels sum exact int32 products only with VNNI or AMX. On
# other x86 CPUs (AVX2, AVX-512 without VNNI) they multiply with vpmaddubsw, which
# saturates each pair of u8*s8 products at int16, so their results are not the QDQ
# model's arithmetic (onnxruntime's quantization guide: "When and why do I need to try
# U8U8?"). On a CI machine (its ISA was not printed then) onnxruntime's fused LeNet came out
# 12 to 37 logit steps from octet's, even where octet ran the Q/DQ graph in float, which
# no CPU feature changes.
ONNXRUNTIME_INT8_EXACT = bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(lscpu().get("Flags", "").split()))
needs_exact_onnxruntime_int8 = pytest.mark.skipif(
    not ONNXRUNTIME_INT8_EXACT,
    reason="onnxruntime's INT8 kernels saturate u8*s8 pairs at int16 on CPUs without VNNI or AMX "
           "(vpmaddubsw); the Q/DQ reference comparison still runs")


def pytest_terminal_summary(terminalreporter):
    """Which kernels run, and which tests skip, depends on the CPU: the last lines say which one this was."""
    terminalreporter.write_line(f"CPU: {machine_description()}; onnxruntime {ort.__version__}, "
                                f"its INT8 kernels exact: {ONNXRUNTIME_INT8_EXACT}")


# A QDQ model, inputs, and octet's logits on them, for the onnxruntime agreement tests
# (tests/export/test_qdq_export.py, tests/import/test_explicit_qdq.py).
QdqRun = collections.namedtuple("QdqRun", "label qdq_path x_npy octet_logits step")


def check_onnxruntime_agreement(run, int8_kernels):
    """|octet - onnxruntime| in logit steps for `run` (a QdqRun), after asserting top-1 agreement >= 0.99.
    With int8_kernels onnxruntime fuses the Q/DQ graph into its integer kernels; without, it runs
    it as written, QuantizeLinear and DequantizeLinear around float operators (no graph
    optimisation): the model's arithmetic on any CPU, a reference rather than a peer."""
    options = ort.SessionOptions()
    if not int8_kernels:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(run.qdq_path), options, providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": np.load(run.x_npy)})[0]
    agreement = (run.octet_logits.argmax(1) == want.argmax(1)).mean()
    steps = np.abs(run.octet_logits - want) / run.step
    print(f"{run.label}: top-1 agreement {agreement:.4f}, |octet - onnxruntime| max {steps.max():.2f} "
          f"mean {steps.mean():.4f} logit steps, {(steps > 0.5).sum()} of {steps.size} over half a step apart "
          f"(step {run.step:.4g})")
    assert agreement >= 0.99
    return steps
