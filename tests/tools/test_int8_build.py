"""`octet build --int8`: calibration that does not depend on batching or order,
calibration caches (reuse, staleness, TensorRT's, malformed), bad calibration
data, per-layer precision and what `octet inspect` shows of an INT8 plan."""
import json
import os
import re

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import LENET, assert_one_line_error

CALIBRATORS = ["entropy2", "entropy", "minmax", "percentile", "mse"]
CALIB_IMAGES = 256  # divisible by every batch size used here


def build_int8(run_octet, plan, *args, model=LENET, check=True):
    """`octet build MODEL -o PLAN --int8 ARGS...` -> CompletedProcess."""
    return run_octet("build", model, "-o", plan, "--int8", *args, check=check)


def cache_lines(path):
    """A cache's lines: header first, then "tensor: hex" in file order."""
    return path.read_text().splitlines()


def assert_failed_cleanly(proc, plan, *needles):
    """One clear stderr line, non-zero exit, and no plan (nor a temporary one) written."""
    assert_one_line_error(proc, *needles)
    assert not plan.exists(), f"{plan} was written by a failing build"
    assert not list(plan.parent.glob(plan.name + ".tmp*")), "a temporary plan was left behind"


@pytest.fixture
def calib_npy(fashion_npy):
    return fashion_npy("train", CALIB_IMAGES)


@pytest.fixture
def lenet_cache(run_octet, calib_npy, tmp_path):
    """A calibration cache (and its fingerprint sidecar) for lenet, entropy2, batches of 32."""
    cache = tmp_path / "lenet.cache"
    build_int8(run_octet, tmp_path / "first.plan", "--calibrator", "entropy2", "--calib-data", calib_npy,
               "--calib-cache", cache, "--quiet")
    assert cache.exists() and (tmp_path / "lenet.cache.octet.json").exists()
    return cache


# ---------------------------------------------------------------- determinism

@pytest.mark.parametrize("calibrator", CALIBRATORS)
def test_scales_independent_of_batching_and_order(calibrator, run_octet, calib_npy, tmp_path):
    variants = {
        "batch1": ["--calib-batch", "1"],
        "batch32": ["--calib-batch", "32"],
        "batch128": ["--calib-batch", "128"],
        "shuffled_seed1": ["--calib-batch", "32", "--calib-shuffle", "--calib-seed", "1"],
        "shuffled_seed2": ["--calib-batch", "128", "--calib-shuffle", "--calib-seed", "2"],
    }
    caches = {}
    for name, args in variants.items():
        cache = tmp_path / f"{name}.cache"
        build_int8(run_octet, tmp_path / f"{name}.plan", "--calibrator", calibrator, "--calib-data", calib_npy,
                   "--calib-cache", cache, "--quiet", *args)
        caches[name] = cache_lines(cache)

    reference = caches["batch32"]
    assert reference[0].startswith("TRT-") and len(reference) > 10
    for name, lines in caches.items():
        assert lines[0] == reference[0], f"{name}: header differs"
        # Tensor lines compared as text: the hex is the scale's exact bits.
        assert lines[1:] == reference[1:], f"{calibrator}: scales of {name} differ from batch32"


# ---------------------------------------------------------------- cache reuse

def test_cache_reuse_skips_calibration_and_gives_identical_plan(run_octet, infer_outputs, fashion_npy, calib_npy,
                                                                tmp_path):
    cache = tmp_path / "c.cache"
    args = ["--calibrator", "entropy2", "--calib-data", calib_npy, "--calib-cache", cache]
    first = build_int8(run_octet, tmp_path / "first.plan", *args)
    assert "skipping calibration" not in first.stderr
    assert "calibrated" in first.stderr
    cache_text = cache.read_text()

    second = build_int8(run_octet, tmp_path / "second.plan", *args)
    assert "skipping calibration" in second.stderr, second.stderr
    assert "calibrated" not in second.stderr and "calibration batch" not in second.stderr
    assert cache.read_text() == cache_text

    x = fashion_npy("test", 64)
    a = infer_outputs(tmp_path / "first.plan", x)
    b = infer_outputs(tmp_path / "second.plan", x)
    assert a.keys() == b.keys() == {"logits"}
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


# ---------------------------------------------------------------- stale caches

def perturbed_lenet(path):
    """lenet with one bias changed: another network for the cache fingerprint."""
    model = onnx.load(LENET)
    for init in model.graph.initializer:
        if init.name == "fc3.bias":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(0.5), init.name))
    onnx.save(model, path)
    return path


def test_cache_for_another_network_is_stale(run_octet, lenet_cache, calib_npy, tmp_path):
    other = perturbed_lenet(tmp_path / "other.onnx")
    plan = tmp_path / "other.plan"
    args = ["--calibrator", "entropy2", "--calib-data", calib_npy, "--calib-cache", lenet_cache]
    proc = build_int8(run_octet, plan, *args, model=other, check=False)
    assert_failed_cleanly(proc, plan, "stale calibration cache", lenet_cache.name, "another network")

    forced = build_int8(run_octet, plan, *args, "--force-calib-cache", model=other)
    assert "forced" in forced.stderr and "skipping calibration" in forced.stderr
    assert plan.exists()


def test_cache_for_other_settings_is_stale(run_octet, lenet_cache, calib_npy, tmp_path):
    plan = tmp_path / "few.plan"
    args = ["--calibrator", "entropy2", "--calib-data", calib_npy, "--calib-batches", "4", "--calib-cache", lenet_cache]
    proc = build_int8(run_octet, plan, *args, check=False)
    assert_failed_cleanly(proc, plan, "stale calibration cache", lenet_cache.name, "other settings")

    forced = build_int8(run_octet, plan, *args, "--force-calib-cache")
    assert "skipping calibration" in forced.stderr
    assert plan.exists()


def test_cache_for_another_algorithm_recalibrates(run_octet, lenet_cache, calib_npy, tmp_path):
    assert cache_lines(lenet_cache)[0].endswith("-EntropyCalibration2")
    proc = build_int8(run_octet, tmp_path / "minmax.plan", "--calibrator", "minmax", "--calib-data", calib_npy,
                      "--calib-cache", lenet_cache)
    assert "calibrating again" in proc.stderr and "skipping calibration" not in proc.stderr
    assert cache_lines(lenet_cache)[0].endswith("-MinMaxCalibration")


def test_tensorrt_cache_without_sidecar_is_used_as_is(run_octet, infer_outputs, fashion_npy, lenet_cache, calib_npy,
                                                     tmp_path):
    # A TensorRT cache is octet's cache without the fingerprint sidecar.
    os.remove(str(lenet_cache) + ".octet.json")
    cache_text = lenet_cache.read_text()
    proc = build_int8(run_octet, tmp_path / "trt.plan", "--calibrator", "entropy2", "--calib-data", calib_npy,
                      "--calib-batches", "2", "--calib-cache", lenet_cache)  # other settings: no fingerprint to say so
    assert "has no octet fingerprint" in proc.stderr and lenet_cache.name in proc.stderr
    assert "skipping calibration" in proc.stderr
    assert lenet_cache.read_text() == cache_text

    x = fashion_npy("test", 16)
    assert np.array_equal(infer_outputs(tmp_path / "trt.plan", x)["logits"],
                          infer_outputs(tmp_path / "first.plan", x)["logits"])


# ---------------------------------------------------------------- malformed caches

def _bad_hex(lines):
    name, _ = lines[2].rsplit(": ", 1)
    lines[2] = f"{name}: 3d07zz1e"
    return "\n".join(lines) + "\n", 3


def _missing_colon(lines):
    lines[3] = lines[3].replace(": ", " ")
    return "\n".join(lines) + "\n", 4


def _unknown_header(lines):
    lines[0] = "OCTET-1-EntropyCalibration2"
    return "\n".join(lines) + "\n", 1


def _truncated(lines):
    # Cut mid-scale on the last line, with no final newline.
    return "\n".join(lines)[:-3], len(lines)


@pytest.mark.parametrize("damage", [_bad_hex, _missing_colon, _unknown_header, _truncated],
                         ids=["bad_hex", "missing_colon", "unknown_header", "truncated"])
def test_malformed_cache_is_refused(damage, run_octet, lenet_cache, calib_npy, tmp_path):
    bad = tmp_path / "bad.cache"
    text, line = damage(cache_lines(lenet_cache))
    bad.write_text(text)
    plan = tmp_path / "bad.plan"
    proc = build_int8(run_octet, plan, "--calibrator", "entropy2", "--calib-data", calib_npy, "--calib-cache", bad,
                      check=False)
    assert_failed_cleanly(proc, plan, f"bad.cache:{line}:")


# ---------------------------------------------------------------- bad calibration data

def write_random_pgm(path, seed):
    """A 28x28 8-bit grey PGM image of random pixels."""
    import fashion_mnist_npy
    fashion_mnist_npy.write_pgm(path, np.random.default_rng(seed).integers(0, 256, size=(28, 28), dtype=np.uint8))


def test_wrong_shape_npy(run_octet, tmp_path):
    data = tmp_path / "rgb.npy"
    np.save(data, np.zeros((8, 3, 28, 28), np.float32))
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calib-data", data, "--calib-batch", "4", check=False)
    assert_failed_cleanly(proc, plan, "rgb.npy", "[3,28,28]")


def test_wrong_dtype_npy(run_octet, tmp_path):
    data = tmp_path / "ints.npy"
    np.save(data, np.zeros((8, 1, 28, 28), np.int32))
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calib-data", data, "--calib-batch", "4", check=False)
    assert_failed_cleanly(proc, plan, "ints.npy", "float32", "int32")


def test_unreadable_image_in_list(run_octet, tmp_path):
    for i in range(3):
        write_random_pgm(tmp_path / f"ok{i}.pgm", i)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really a png")
    listing = tmp_path / "images.txt"
    listing.write_text("ok0.pgm\nok1.pgm\nbroken.png\nok2.pgm\n")
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calib-data", listing, "--calib-batch", "1", "--quiet", check=False)
    assert_failed_cleanly(proc, plan, "broken.png", "cannot decode")


def test_image_list_is_usable(run_octet, tmp_path):
    """The good case of the test above, so that its failure is the broken image's doing."""
    for i in range(4):
        write_random_pgm(tmp_path / f"ok{i}.pgm", i)
    listing = tmp_path / "images.txt"
    listing.write_text("# four grey images\nok0.pgm\nok1.pgm\n\nok2.pgm\nok3.pgm\n")
    build_int8(run_octet, tmp_path / "x.plan", "--calib-data", listing, "--calib-batch", "2", "--quiet")
    assert (tmp_path / "x.plan").exists()


def test_empty_image_list(run_octet, tmp_path):
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing here\n\n")
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calib-data", listing, check=False)
    assert_failed_cleanly(proc, plan, "empty.txt", "no images")


def test_fewer_samples_than_one_batch(run_octet, fashion_npy, tmp_path):
    data = fashion_npy("train", 8)
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calib-data", data, "--calib-batch", "32", check=False)
    assert_failed_cleanly(proc, plan, data.name, "8 samples", "32")


# ---------------------------------------------------------------- bad options

@pytest.mark.parametrize("spec, needle", [("bogus", "expected entropy2"), ("percentile=150", "(0, 100]"),
                                          ("percentile=abc", "not a percentile"), ("minmax=3", "only percentile")])
def test_bad_calibrator(spec, needle, run_octet, calib_npy, tmp_path):
    plan = tmp_path / "x.plan"
    proc = build_int8(run_octet, plan, "--calibrator", spec, "--calib-data", calib_npy, check=False)
    assert_failed_cleanly(proc, plan, f"--calibrator {spec}", needle)


# ---------------------------------------------------------------- precision and inspect

LAYER_LINE = re.compile(r"^\s+\[\d+\] (\S+) '(.*)' (int8|fp32) (?:NCHW|NHWC) kernel=\S+: \((.*)\) -> \((.*)\) params=\d+$")


def inspect_layers(run_octet, plan):
    """[(op_type, name, precision, inputs text, outputs text)] from `octet inspect`."""
    out = run_octet("inspect", plan).stdout
    lines = out[out.index("Layers:"):].splitlines()[1:]
    layers = [LAYER_LINE.match(line) for line in lines if line.lstrip().startswith("[")]
    assert all(layers), out
    return out, [m.groups() for m in layers]


def test_layer_precision_keeps_layer_fp32(run_octet, calib_npy, tmp_path):
    plan = tmp_path / "mixed.plan"
    build_int8(run_octet, plan, "--calib-data", calib_npy, "--layer-precision", "/conv2/Conv:fp32",
               "--layer-precision", "/fc3/Gemm:fp32", "--quiet")
    _, layers = inspect_layers(run_octet, plan)
    precision = {name: prec for _, name, prec, _, _ in layers}
    assert precision.get("/conv2/Conv") == "fp32", layers
    assert precision.get("/fc3/Gemm") == "fp32", layers
    # The others still run in INT8.
    assert any(prec == "int8" and "/conv1/Conv" in name for name, prec in precision.items()), layers
    assert any(prec == "int8" and "/fc1/Gemm" in name for name, prec in precision.items()), layers


def test_int8_layer_precision_prefer_and_obey(run_octet, calib_npy, tmp_path):
    plan = tmp_path / "constrained.plan"
    # /Relu reads /conv1/Conv, kept in FP32: it cannot run INT8.
    asks = ["--layerPrecisions", "/conv1/Conv:fp32,/Relu:int8", "--calib-data", calib_npy]
    built = build_int8(run_octet, plan, *asks)
    assert "layer '/Relu' cannot run INT8" in built.stderr and "prefer" in built.stderr
    refused = run_octet("build", LENET, "-o", tmp_path / "obeyed.plan", "--int8", *asks,
                        "--precision-constraints", "obey", check=False)
    assert refused.returncode != 0 and "layer '/Relu' cannot run INT8" in refused.stderr, refused.stderr
    assert not (tmp_path / "obeyed.plan").exists()
    bad = run_octet("build", LENET, "-o", plan, "--int8", "--calib-data", calib_npy, "--layer-precision", "/Relu:fp16",
                    check=False)
    assert bad.returncode != 0 and "expected NAME:fp32 or NAME:int8" in bad.stderr, bad.stderr


def test_inspect_int8_plan_shows_scales_and_precisions(run_octet, calib_npy, tmp_path):
    plan, cache = tmp_path / "e.plan", tmp_path / "e.cache"
    build_int8(run_octet, plan, "--calib-data", calib_npy, "--calib-cache", cache, "--quiet")
    cached = {}
    for line in cache_lines(cache)[1:]:
        name, hex_bits = line.rsplit(": ", 1)
        cached[name] = float(np.frombuffer(bytes.fromhex(hex_bits)[::-1], np.float32)[0])

    out, layers = inspect_layers(run_octet, plan)
    assert "Precision: int8 (calibration: MSECalibration)" in out
    assert {prec for _, _, prec, _, _ in layers} == {"int8", "fp32"}

    def int8_scales(tensors_text):
        """{tensor: scale} of the INT8 tensors in an inspect "(a:type scale=s, b:type)" list."""
        scales = {}
        for text in filter(None, (t.strip() for t in tensors_text.split(", "))):  # shapes hold no ", "
            if re.match(r"^.+:int8", text):
                m = re.match(r"^(.+):int8\S* scale=([0-9.e+-]+)$", text)
                assert m, f"INT8 tensor without a scale: {text}"
                scales[m.group(1)] = float(m.group(2))
        return scales

    produced = 0
    for op, name, prec, ins, outs in layers:
        in_scales, out_scales = int8_scales(ins), int8_scales(outs)
        assert prec == "int8" or op == "QuantizeLinear" or not in_scales, f"{name}: INT8 input, {prec} layer"
        for tensor, scale in out_scales.items():
            if op in ("MaxPool", "Flatten", "Transpose"):  # INT8 passes through: the input's scale carries over
                assert [scale] == list(in_scales.values()), name
            else:  # computed from calibration: the cache's scale, printed to 6 decimals
                assert scale == pytest.approx(cached[tensor.removesuffix("::int8")], abs=1e-6), f"{name}: {tensor}"
                produced += 1
    assert produced >= 5, out


def test_compare_reports_every_layer_in_the_models_order(run_octet, calib_npy, fashion_npy, tmp_path):
    """`octet compare` lines the INT8 engine's layers (NHWC between convs) up with the FP32 model's:
    misordered values would give an SQNR near 0 dB."""
    model = os.path.join(os.path.dirname(LENET), "resnet.onnx")
    plan, report = tmp_path / "resnet.plan", tmp_path / "compare.json"
    run_octet("build", model, "-o", plan, "--int8", "--calib-data", calib_npy, "--quiet")
    assert "NHWC" in run_octet("inspect", plan).stdout
    run_octet("compare", model, plan, "--data", fashion_npy("test", 200), "--json", report)
    with open(report) as f:
        layers = json.load(f)["layers"]
    convs = [name for name in layers if "Conv" in name or "Relu" in name]
    assert len(convs) >= 8, layers
    assert all(layer["sqnr_db"] > 15 for layer in layers.values()), layers
