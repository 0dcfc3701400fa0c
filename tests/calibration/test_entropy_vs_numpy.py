"""octet_amax_tool's thresholds against a plain numpy re-implementation of the reference recipes
(pytorch-quantization's _compute_amax_entropy / _compute_amax_percentile, TensorRT's entropy
method; scipy.stats.entropy written out, as scipy is not installed)."""
import json
import math
import os
import subprocess

import numpy as np
import pytest

from conftest import REPO

NUM_BINS = 2048


@pytest.fixture(scope="session")
def amax_tool():
    build = os.environ.get("OCTET_BUILD_DIR", os.path.join(REPO, "build"))
    path = os.path.join(build, "tests", "octet_amax_tool")
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: build the octet_amax_tool target or set OCTET_BUILD_DIR")
    return path


def run_tool(tool, *args):
    proc = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pow2_histogram(values):
    """|x| histogram the way octet builds it: width 2^k, k the smallest with 2048 * 2^k > absmax."""
    a = np.abs(values.astype(np.float64))
    absmax = a.max()
    width = 2.0 ** (math.frexp(absmax)[1] - 11)
    assert NUM_BINS * width > absmax >= NUM_BINS * width / 4
    counts = np.bincount(np.floor(a / width).astype(np.int64), minlength=NUM_BINS)
    assert len(counts) == NUM_BINS
    return counts, np.arange(NUM_BINS + 1) * width, absmax


def kl_divergence(p, q):
    """scipy.stats.entropy(p, q): both normalised, sum of p * ln(p / q); 0 where p == 0, inf where
    p > 0 == q. (Where q is all zero scipy gives NaN; octet treats that as inf too.)"""
    p = p / p.sum()
    if q.sum() == 0:
        return np.inf
    q = q / q.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, np.where(q > 0, p * np.log(p / q), np.inf), 0.0)
    return np.sum(terms)


def entropy_amax(hist, edges, zero_bin_as_bin_1=True, levels=128, start_bin=128):
    bins = np.array(hist, dtype=np.int64)
    if zero_bin_as_bin_1:
        bins[0] = bins[1]
    divergences = []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=levels + 1)
        level = np.digitize(np.arange(i), space) - 1
        level[bins[:i] == 0] = -1
        used = level != -1
        level_total = np.bincount(level[used], weights=bins[:i][used].astype(np.float64), minlength=levels)
        level_nonzero = np.bincount(level[used], minlength=levels)
        q = np.zeros(i)
        q[used] = level_total[level[used]] / level_nonzero[level[used]]
        p = bins[:i].astype(np.float64)
        p[-1] += bins[i:].sum()
        divergences.append(kl_divergence(p, q))
    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    return edges[start_bin + last_argmin]


def percentile_amax(hist, edges, percentile):
    cdf = np.cumsum(hist / hist.sum())
    return edges[np.searchsorted(cdf, percentile / 100)]


def mse_amax(hist, edges, absmax):
    centres = np.minimum((edges[:-1] + edges[1:]) / 2, absmax)
    best_t, best_err = None, np.inf
    for t in sorted(set(edges[1:]) | {absmax}):
        q = np.clip(np.round(centres / t * 127), 0, 127) * t / 127
        err = np.sum(hist * (centres - q) ** 2)
        if err <= best_err:  # ascending t: ties go to the larger
            best_t, best_err = t, err
    return best_t


def check(tool_out, hist, edges, absmax):
    """Minmax and percentile match exactly; the KL and MSE searches within one bin, as summation
    order can tip near-ties. Returns, per searched method, whether it matched exactly."""
    width = edges[1]
    got = {key: np.float32(value) for key, value in tool_out.items()}  # the tool prints float32
    assert got["minmax"] == np.float32(absmax)
    assert got["percentile_99.99"] == np.float32(percentile_amax(hist, edges, 99.99))
    want = {"entropy2": entropy_amax(hist, edges), "entropy": entropy_amax(hist, edges, zero_bin_as_bin_1=False),
            "mse": mse_amax(hist, edges, absmax)}
    for key, value in want.items():
        assert abs(float(got[key]) - value) <= width * 1.000001, (key, got[key], value, width)
    return {key: got[key] == np.float32(value) for key, value in want.items()}


def image_like(rng, n):
    """Normalised-image activations: half the values one background level, the rest a bright tail."""
    background = np.full(n // 2, -0.4242, np.float32)
    foreground = (rng.beta(2, 5, n - n // 2) * 2.8 - 0.4242).astype(np.float32)
    return np.concatenate([background, foreground])


DATASETS = {
    "gamma": lambda rng: rng.gamma(2.0, 1.5, 200_000).astype(np.float32),
    "gamma_heavy": lambda rng: rng.gamma(0.5, 3.0, 200_000).astype(np.float32),
    "normal": lambda rng: rng.normal(0.1, 1.0, 200_000).astype(np.float32),
    "laplace": lambda rng: rng.laplace(0.0, 0.3, 200_000).astype(np.float32),
    "relu_normal": lambda rng: np.maximum(rng.normal(0, 1, 200_000), 0).astype(np.float32),
    "image_like": lambda rng: image_like(rng, 100_000),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_data_thresholds_match_numpy(name, seed, amax_tool, tmp_path):
    values = DATASETS[name](np.random.default_rng(seed))
    np.save(tmp_path / "x.npy", values)
    hist, edges, absmax = pow2_histogram(values)
    check(run_tool(amax_tool, tmp_path / "x.npy"), hist, edges, absmax)


def test_spike_holding_half_the_mass(amax_tool, tmp_path):
    rng = np.random.default_rng(5)
    hist = np.bincount(np.minimum(rng.exponential(300, 50_000).astype(np.int64), NUM_BINS - 1), minlength=NUM_BINS)
    hist[37] += hist.sum()
    np.save(tmp_path / "h.npy", hist.astype(np.int64))
    width = 0.01
    edges = np.arange(NUM_BINS + 1) * width
    absmax = edges[np.nonzero(hist)[0][-1] + 1]  # the tool's absmax for a bare histogram
    check(run_tool(amax_tool, tmp_path / "h.npy", width), hist, edges, absmax)


@pytest.mark.parametrize("seed", range(3))
def test_sparse_histogram(seed, amax_tool, tmp_path):
    rng = np.random.default_rng(100 + seed)
    hist = np.zeros(NUM_BINS, np.uint64)
    hist[rng.choice(1500, 60, replace=False)] = rng.integers(1, 1000, 60)
    hist[0] = 5000
    np.save(tmp_path / "h.npy", hist)
    width = 2.0 ** -7
    edges = np.arange(NUM_BINS + 1) * width
    absmax = edges[np.nonzero(hist)[0][-1] + 1]
    check(run_tool(amax_tool, tmp_path / "h.npy", width), hist.astype(np.int64), edges, absmax)
