#!/usr/bin/env python3
"""onnxruntime's own INT8 model, verified to run integer kernels; and onnxruntime timing.

onnxruntime's quantize_static can write several forms of INT8 model; whether onnxruntime
then runs integer kernels depends on the form and the CPU. This tries each candidate
form (QOperator: QLinearConv etc.; QDQ: QuantizeLinear/DequantizeLinear pairs that
onnxruntime fuses), asks onnxruntime for the graph it actually runs (ORT_ENABLE_ALL,
saved through SessionOptions.optimized_model_filepath), counts integer compute nodes
(QLinearConv, ConvInteger, QGemm, MatMulInteger, ...) against float ones (Conv,
FusedConv, Gemm, MatMul, ...), times the candidates that compute in integers, and keeps
the fastest. Calibration data: a float32 .npy of N preprocessed samples (MinMax).

    python3 scripts/onnxruntime_int8.py model.onnx --calib-data calib.npy -o model.ort-int8.onnx
        [--forms qoperator qdq] [--batch 8] [--threads 2] [--duration-s 2]

Writes the chosen model and, next to it, FILE.json with the form, node counts and
throughput of every candidate. Also imported by bench_engine.py and
bench_vs_onnxruntime.py for `session` and `time_session` (onnxruntime timing shared by
every benchmark script).
"""
import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime import quantization as q

# The forms tried: uint8 activations and per-channel int8 weights (u8s8), the combination
# onnxruntime's x86 kernels (VNNI vpdpbusd takes u8 x s8) are built for.
FORMS = {
    "qoperator": dict(quant_format=q.QuantFormat.QOperator, activation_type=q.QuantType.QUInt8,
                      weight_type=q.QuantType.QInt8, per_channel=True),
    "qdq": dict(quant_format=q.QuantFormat.QDQ, activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8, per_channel=True),
}
INTEGER_OPS = {"QLinearConv", "ConvInteger", "QGemm", "MatMulInteger", "QLinearMatMul",
               "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "NhwcQLinearConv"}
FLOAT_OPS = {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul"}


def session(model, threads, optimized_model_path=None):
    """A CPU session as every benchmark here uses it: `threads` intra-op threads, one
    inter-op thread, all graph optimisations."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_model_path:
        opts.optimized_model_filepath = optimized_model_path
        opts.log_severity_level = 3  # not the warning that an NCHWc-optimised graph is machine-specific
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def random_feed(sess, batch, seed=0):
    """Uniform [-1, 1) input of batch `batch` for the first input (as `octet bench` makes)."""
    inp = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) else d for d in inp.shape]
    return {inp.name: np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)}


def time_session(sess, feed, duration_s, min_iterations=3, warmup_s=0.5):
    """Runs for at least `duration_s` and at least `min_iterations` after a warm-up of at
    least one run. Returns (samples/s, median latency ms, iterations)."""
    end = time.perf_counter() + warmup_s
    sess.run(None, feed)
    while time.perf_counter() < end:
        sess.run(None, feed)
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < duration_s or len(latencies) < min_iterations:
        t0 = time.perf_counter()
        sess.run(None, feed)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    batch = next(iter(feed.values())).shape[0]
    return len(latencies) * batch / total, float(np.median(latencies) * 1e3), len(latencies)


class NpyDataReader(q.CalibrationDataReader):
    """Feeds a float32 N x ... .npy to the model's first input in batches."""

    def __init__(self, npy_path, input_name, batch=8):
        self.data = np.load(npy_path).astype(np.float32)
        self.input_name = input_name
        self.batch = batch
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.data):
            return None
        x = self.data[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return {self.input_name: x}

    def rewind(self):
        self.pos = 0


def count_ops(model_path, threads=1):
    """Op-type counts of the graph onnxruntime runs for `model_path` (after ORT_ENABLE_ALL)."""
    with tempfile.TemporaryDirectory() as tmp:
        optimized = os.path.join(tmp, "optimized.onnx")
        session(model_path, threads, optimized)
        graph = onnx.load(optimized, load_external_data=False).graph
        return collections.Counter(n.op_type for n in graph.node)


def kernel_summary(ops):
    """(integer compute nodes, float compute nodes) in an op-type count."""
    return (sum(c for op, c in ops.items() if op in INTEGER_OPS),
            sum(c for op, c in ops.items() if op in FLOAT_OPS))


def quantize(model, calib_data, out_path, form, tmp, calib_batch=8):
    """One quantize_static run of `form` (a key of FORMS); shape-inferred model in `tmp`."""
    prepared = os.path.join(tmp, "prepared.onnx")
    if not os.path.exists(prepared):
        # onnxruntime's recommended pre-processing (shape inference, graph cleanup);
        # quantizing the raw model works too, so a failure here is not fatal.
        try:
            q.shape_inference.quant_pre_process(model, prepared)
        except Exception as e:  # noqa: BLE001 - any failure: fall back to the raw model
            print(f"onnxruntime_int8: quant_pre_process failed ({e}); quantizing the model as is",
                  file=sys.stderr)
            shutil.copyfile(model, prepared)
    input_name = onnx.load(prepared, load_external_data=False).graph.input[0].name
    q.quantize_static(prepared, out_path, NpyDataReader(calib_data, input_name, calib_batch),
                      calibrate_method=q.CalibrationMethod.MinMax, **FORMS[form])


def make_int8_model(model, calib_data, out_path, forms=tuple(FORMS), batch=8, threads=2,
                    duration_s=2.0, log=print):
    """Writes onnxruntime's fastest verified-integer INT8 model of `model` to `out_path`
    and its report to out_path + ".json"; returns the report (a dict)."""
    candidates = []
    with tempfile.TemporaryDirectory() as tmp:
        for form in forms:
            path = os.path.join(tmp, form + ".onnx")
            t0 = time.perf_counter()
            quantize(model, calib_data, path, form, tmp)
            ops = count_ops(path, threads)
            integer, floating = kernel_summary(ops)
            sess = session(path, threads)
            tput, median_ms, _ = time_session(sess, random_feed(sess, batch), duration_s)
            c = {"form": form, "integer_nodes": integer, "float_nodes": floating,
                 "ops": dict(sorted(ops.items())), "samples_per_s": tput, "median_ms": median_ms,
                 "batch": batch, "threads": threads, "path": path}
            candidates.append(c)
            log(f"onnxruntime INT8 {form}: optimised graph has {integer} integer compute nodes "
                f"({_ops_str(ops, INTEGER_OPS)}) and {floating} float ones ({_ops_str(ops, FLOAT_OPS)}); "
                f"{tput:.1f} samples/s at batch {batch} ({time.perf_counter() - t0:.0f} s)")
        # Among the forms that compute in integers, those with the fewest float compute
        # nodes left, and of those the fastest.
        verified = [c for c in candidates if c["integer_nodes"] > 0]
        if not verified:
            raise RuntimeError(f"{model}: no form makes onnxruntime run integer kernels")
        fewest_float = min(c["float_nodes"] for c in verified)
        best = max((c for c in verified if c["float_nodes"] == fewest_float), key=lambda c: c["samples_per_s"])
        shutil.copyfile(best["path"], out_path)
    for c in candidates:
        del c["path"]
    report = {"model": os.path.abspath(model), "calib_data": os.path.abspath(calib_data),
              "onnxruntime": ort.__version__, "chosen": best["form"], "candidates": candidates}
    with open(out_path + ".json", "w") as f:
        json.dump(report, f, indent=1)
    log(f"onnxruntime INT8: chose {best['form']} -> {out_path}")
    return report


def _ops_str(ops, kinds):
    return ", ".join(f"{op} {c}" for op, c in sorted(ops.items()) if op in kinds) or "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--calib-data", required=True, help="float32 N x C x H x W .npy")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--forms", nargs="+", choices=list(FORMS), default=list(FORMS))
    ap.add_argument("--batch", type=int, default=8, help="batch at which the forms are timed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration-s", type=float, default=2.0)
    args = ap.parse_args()
    make_int8_model(args.model, args.calib_data, args.output, args.forms, args.batch, args.threads,
                    args.duration_s)


if __name__ == "__main__":
    main()
