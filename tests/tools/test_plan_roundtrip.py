"""A saved INT8 plan gives bit-identical outputs in every process that loads it and
when rebuilt from the same calibration cache; a damaged plan is refused cleanly."""
import numpy as np
import pytest

from conftest import LENET, assert_one_line_error


@pytest.fixture
def int8_plan(run_octet, fashion_npy, tmp_path):
    """(plan, cache) for lenet calibrated on 128 training images; kernel timings go to
    tmp_path/timing.cache, which a rebuild reuses to make the same kernel choices."""
    plan, cache = tmp_path / "lenet.plan", tmp_path / "lenet.cache"
    run_octet("build", LENET, "-o", plan, "--int8", "--calib-data", fashion_npy("train", 128), "--calib-cache", cache,
              "--timing-cache", tmp_path / "timing.cache", "--quiet")
    return plan, cache


def assert_bit_identical(a, b):
    assert a.keys() == b.keys() and a
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert np.array_equal(a[name], b[name]), f"{name}: max difference {np.abs(a[name] - b[name]).max()}"


def test_outputs_identical_across_processes_and_rebuilds(run_octet, infer_outputs, fashion_npy, int8_plan, tmp_path):
    plan, cache = int8_plan
    x = fashion_npy("test", 100)
    first = infer_outputs(plan, x)
    assert first["logits"].shape == (100, 10) and np.isfinite(first["logits"]).all()
    assert_bit_identical(first, infer_outputs(plan, x))

    # Rebuilt from the same cache (calibration skipped): the same engine.
    rebuilt = tmp_path / "rebuilt.plan"
    proc = run_octet("build", LENET, "-o", rebuilt, "--int8", "--calib-data", fashion_npy("train", 128),
                     "--calib-cache", cache, "--timing-cache", tmp_path / "timing.cache")
    assert "skipping calibration" in proc.stderr
    assert_bit_identical(first, infer_outputs(rebuilt, x))
    assert rebuilt.read_bytes() == plan.read_bytes()


def test_truncated_plan_is_refused(run_octet, fashion_npy, int8_plan, tmp_path):
    plan, _ = int8_plan
    cut = tmp_path / "cut.plan"
    cut.write_bytes(plan.read_bytes()[: plan.stat().st_size // 2])
    proc = run_octet("infer", cut, "--input", fashion_npy("test", 4), "--output-dir", tmp_path / "out", check=False)
    assert_one_line_error(proc, "cut.plan", "truncated")
    assert not (tmp_path / "out").exists()


def test_bit_flipped_plan_is_refused(run_octet, fashion_npy, int8_plan, tmp_path):
    plan, _ = int8_plan
    data = bytearray(plan.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped = tmp_path / "flipped.plan"
    flipped.write_bytes(bytes(data))
    proc = run_octet("infer", flipped, "--input", fashion_npy("test", 4), "--output-dir", tmp_path / "out", check=False)
    assert_one_line_error(proc, "flipped.plan", "corrupt (checksum mismatch)")
    assert not (tmp_path / "out").exists()


def test_optimization_profile_flags_bound_the_batch(run_octet, fashion_npy, tmp_path):
    """trtexec's --minShapes/--optShapes/--maxShapes (and octet's --min-shapes ...): the plan keeps the
    profile, `inspect` shows it, and a batch outside it is refused with one clear line."""
    plan = tmp_path / "lenet.plan"
    run_octet("build", LENET, "-o", plan, "--minShapes", "input:1x1x28x28", "--opt-shapes", "input:8x1x28x28",
              "--max-shapes", "input:16x1x28x28", "--quiet")
    assert "profile input: min [1,1,28,28] opt [8,1,28,28] max [16,1,28,28]" in run_octet("inspect", plan).stdout
    run_octet("infer", plan, "--input", fashion_npy("test", 16), "--output-dir", tmp_path / "ok")
    proc = run_octet("infer", plan, "--input", fashion_npy("test", 17), "--output-dir", tmp_path / "no", check=False)
    assert_one_line_error(proc, "input 'input' has shape [17,1,28,28]", "outside the engine's optimisation profile")
    bad = run_octet("build", LENET, "-o", tmp_path / "bad.plan", "--min-shapes", "input:1x1x28x28", "--opt-shapes",
                    "input:8x1x28x28", "--max-shapes", "input:4x1x28x28", check=False)
    assert_one_line_error(bad, "optimisation profile: input 'input'", "min <= opt <= max")
    assert not (tmp_path / "bad.plan").exists()
