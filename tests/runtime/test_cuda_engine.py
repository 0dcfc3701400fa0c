"""GPU engines (`--device cuda`): on a machine without a usable CUDA device (CI), the
build and the loading of a GPU plan fail with one clear line, and the GPU tests skip
saying why; on a GPU (scripts/gpu_check.sh) the INT8 engines of the sample models
match the CPU engines built from the same calibration cache, the FP32 and FP16 GPU
engines the CPU's FP32 engine, and calibration on the GPU the CPU's."""
import json
import os
import struct

import numpy as np
import pytest

from conftest import LENET, REPO, SAMPLE_MODELS, assert_one_line_error

NO_GPU_REASONS = ("no CUDA device", "built without the CUDA backend", "built for sm_90")


@pytest.fixture(scope="session")
def calib_npy(fashion_npy):
    return fashion_npy("train", 512)


@pytest.fixture(scope="session")
def cuda_unavailable(run_octet, calib_npy, tmp_path_factory):
    """None where GPU engines build here, else the one-line reason the build gave."""
    plan = tmp_path_factory.mktemp("probe") / "lenet.cuda.plan"
    proc = run_octet("build", LENET, "--int8", "--calib-data", calib_npy, "--device", "cuda", "-o", plan, "--quiet",
                     check=False)
    if proc.returncode == 0:
        return None
    assert_one_line_error(proc, "--device cuda")
    assert any(r in proc.stderr for r in NO_GPU_REASONS), proc.stderr
    return proc.stderr.strip()


def test_unknown_device_is_refused(run_octet, calib_npy, tmp_path):
    proc = run_octet("build", LENET, "--int8", "--calib-data", calib_npy, "--device", "tpu", "-o", tmp_path / "x.plan",
                     check=False)
    assert_one_line_error(proc, "unknown device 'tpu'", "cpu or cuda")


def test_without_gpu_a_cuda_plan_is_refused(run_octet, calib_npy, cuda_unavailable, tmp_path):
    """A plan whose target names a GPU (here: a CPU plan's target rewritten) is refused on a machine without one."""
    if cuda_unavailable is None:
        pytest.skip("this machine has a CUDA device")
    plan = tmp_path / "lenet.plan"
    run_octet("build", LENET, "--int8", "--calib-data", calib_npy, "-o", plan, "--quiet")
    data = plan.read_bytes()
    # magic (8) | u32 version | str octet version | str target: each str is a u64 length, then bytes.
    at = 12
    at += 8 + int.from_bytes(data[at:at + 8], "little")
    target_len = int.from_bytes(data[at:at + 8], "little")
    target = data[at + 8:at + 8 + target_len]
    assert target.startswith(b"cpu:"), target
    gpu_target = b"cuda:sm_90"
    # Then u64 payload size | u8 n | n zero bytes (the payload starts 64-byte aligned) | payload | checksum.
    rest = data[at + 8 + target_len:]
    payload_size = int.from_bytes(rest[:8], "little")
    old_padding = rest[8]
    payload_and_checksum = rest[9 + old_padding:]
    head = data[:at] + len(gpu_target).to_bytes(8, "little") + gpu_target + payload_size.to_bytes(8, "little")
    padding = (64 - (len(head) + 1) % 64) % 64
    (tmp_path / "gpu.plan").write_bytes(head + bytes([padding]) + bytes(padding) + payload_and_checksum)
    proc = run_octet("bench", tmp_path / "gpu.plan", "--duration-s", "0.1", check=False)
    assert_one_line_error(proc, "gpu.plan", "plan was built for GPU target 'cuda:sm_90'")
    assert any(r in proc.stderr for r in NO_GPU_REASONS), proc.stderr


def test_bench_device_must_match_the_plan(run_octet, calib_npy, tmp_path):
    plan = tmp_path / "lenet.plan"
    run_octet("build", LENET, "--int8", "--calib-data", calib_npy, "-o", plan, "--quiet")
    proc = run_octet("bench", plan, "--device", "cuda", "--duration-s", "0.1", check=False)
    assert_one_line_error(proc, "runs on the cpu, not --device cuda")


# ---- On a GPU.

@pytest.fixture(scope="session")
def test_set(tmp_path_factory):
    import fashion_mnist_npy

    folder = tmp_path_factory.mktemp("test_set")
    x, y = fashion_mnist_npy.load("test")
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return folder / "x.npy", folder / "y.npy"


@pytest.mark.parametrize("model", SAMPLE_MODELS)
def test_gpu_int8_engine_matches_the_cpu_engine(model, run_octet, calib_npy, cuda_unavailable, test_set, tmp_path):
    """Acceptance: the GPU INT8 engine reaches the CPU engine's top-1 within 0.1 points on the 10,000 test
    images, and their logits agree within one INT8 step of the logits (max |logit| / 127)."""
    if cuda_unavailable:
        pytest.skip(f"GPU test skipped: {cuda_unavailable}")
    onnx = os.path.join(REPO, "models", f"{model}.onnx")
    cache = tmp_path / "calib.cache"
    cpu_plan, gpu_plan = tmp_path / "cpu.plan", tmp_path / "gpu.plan"
    run_octet("build", onnx, "--int8", "--calib-data", calib_npy, "--calib-cache", cache, "-o", cpu_plan, "--quiet")
    # The cache made for the CPU engine builds the GPU engine: no second calibration.
    built = run_octet("build", onnx, "--int8", "--calib-data", calib_npy, "--calib-cache", cache, "--device", "cuda",
                      "-o", gpu_plan)
    assert "skipping calibration" in built.stdout + built.stderr
    x, y = test_set
    report = tmp_path / "compare.json"
    run_octet("compare", cpu_plan, gpu_plan, "--data", x, "--labels", y, "--json", report, "--batch", "500")
    r = json.loads(report.read_text())
    print(f"{model}: CPU INT8 top-1 {100 * r['reference_top1']:.2f}%, GPU INT8 {100 * r['engine_top1']:.2f}%, "
          f"agreement {100 * r['top1_agreement']:.2f}%, logits max abs difference {r['outputs']['logits']['max_abs']:.3g}")
    assert abs(r["reference_top1"] - r["engine_top1"]) * 100 <= 0.1
    step = r["outputs"]["logits"]["reference_max_abs"] / 127
    assert r["outputs"]["logits"]["max_abs"] <= step


@pytest.mark.parametrize("model", SAMPLE_MODELS)
def test_gpu_fp32_and_fp16_engines_match_the_cpu_fp32_engine(model, run_octet, cuda_unavailable, test_set, tmp_path):
    """FP32 and FP16 GPU engines (`--device cuda`, `--device cuda --fp16`) against the CPU's FP32 engine on the
    10,000 test images: FP32 top-1 within 0.1 points and logits within float rounding; FP16 top-1 within 0.2."""
    if cuda_unavailable:
        pytest.skip(f"GPU test skipped: {cuda_unavailable}")
    onnx = os.path.join(REPO, "models", f"{model}.onnx")
    cpu_plan = tmp_path / "cpu.plan"
    run_octet("build", onnx, "-o", cpu_plan, "--quiet")
    x, y = test_set
    for name, flags, top1_points, logits_relative in (("FP32", [], 0.1, 1e-4), ("FP16", ["--fp16"], 0.2, 2e-2)):
        plan = tmp_path / f"{name}.plan"
        run_octet("build", onnx, "--device", "cuda", *flags, "-o", plan, "--quiet")
        report = tmp_path / f"{name}.json"
        run_octet("compare", cpu_plan, plan, "--data", x, "--labels", y, "--json", report, "--batch", "500")
        r = json.loads(report.read_text())
        logits = r["outputs"]["logits"]
        print(f"{model}: CPU FP32 top-1 {100 * r['reference_top1']:.2f}%, GPU {name} {100 * r['engine_top1']:.2f}%, "
              f"agreement {100 * r['top1_agreement']:.2f}%, logits max abs difference {logits['max_abs']:.3g}")
        assert abs(r["reference_top1"] - r["engine_top1"]) * 100 <= top1_points, name
        assert logits["max_abs"] <= logits_relative * logits["reference_max_abs"], name


def cache_scales(path):
    """A calibration cache's scales by tensor (TensorRT's text format: header, then "tensor: float bits in hex")."""
    lines = path.read_text().splitlines()
    return {name: struct.unpack(">f", bytes.fromhex(bits))[0] for name, bits in (l.split(": ") for l in lines[1:])}


@pytest.mark.parametrize("model", SAMPLE_MODELS)
def test_gpu_calibration_gives_the_cpu_calibration(model, run_octet, calib_npy, cuda_unavailable, tmp_path):
    """A GPU engine's calibration runs the FP32 network on the GPU: with minmax (no histogram to bin), the cache
    lists the CPU calibration's tensors with their scales within float rounding (1e-4 relative)."""
    if cuda_unavailable:
        pytest.skip(f"GPU test skipped: {cuda_unavailable}")
    onnx = os.path.join(REPO, "models", f"{model}.onnx")
    scales = {}
    for device in ("cpu", "cuda"):
        cache = tmp_path / f"{device}.cache"
        built = run_octet("build", onnx, "--int8", "--calibrator", "minmax", "--calib-data", calib_npy, "--calib-cache",
                          cache, "--device", device, "-o", tmp_path / f"{device}.plan")
        on_gpu = "calibration runs the FP32 network on the GPU" in built.stdout + built.stderr
        assert on_gpu == (device == "cuda"), built.stdout + built.stderr
        scales[device] = cache_scales(cache)
    assert scales["cuda"].keys() == scales["cpu"].keys()
    worst = max(abs(scales["cuda"][t] - s) / max(s, 1e-30) for t, s in scales["cpu"].items())
    print(f"{model}: {len(scales['cpu'])} tensors calibrated on the GPU, scales within {worst:.2g} of the CPU's")
    assert worst <= 1e-4  # as FP32 logits: float sums in other orders, over a dozen layers
