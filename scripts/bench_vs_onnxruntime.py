#!/usr/bin/env python3
"""octet vs onnxruntime on the sample models, side by side in one run.

For every model and batch size, runs `octet bench` on the FP32 model and on an
INT8 engine (built with octet's default calibrator from 512 training images),
then onnxruntime FP32 (same input shape, thread count and measuring time), and
prints throughput, median latency and the octet/onnxruntime ratios as a
Markdown table.

    python3 scripts/bench_vs_onnxruntime.py [--models lenet resnet mobilenetv2]
        [--batches 1 64] [--threads 2] [--duration-s 5] [--octet build/octet]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist_npy  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_int8(octet, model, tmp):
    calib = os.path.join(tmp, "calib.npy")
    if not os.path.exists(calib):
        np.save(calib, fashion_mnist_npy.load("train", 512)[0])
    plan = os.path.join(tmp, os.path.basename(model) + ".int8.plan")
    subprocess.run([octet, "build", model, "--int8", "--calib-data", calib, "-o", plan, "--quiet"], check=True)
    return plan


def bench_octet(octet, model, batch, threads, duration_s):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        subprocess.run([octet, "bench", model, "--batch", str(batch), "--threads", str(threads),
                        "--duration-s", str(duration_s), "--warmup-ms", "500", "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            r = json.load(f)
    return r["throughput_samples_per_s"], r["latency_ms"]["median"]


def bench_onnxruntime(model, batch, threads, duration_s):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) else d for d in inp.shape]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    feed = {inp.name: x}
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        sess.run(None, feed)
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < duration_s:
        t0 = time.perf_counter()
        sess.run(None, feed)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    return len(latencies) * shape[0] / total, float(np.median(latencies) * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "resnet", "mobilenetv2"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration-s", type=float, default=5.0)
    ap.add_argument("--octet", default=os.path.join(REPO, "build", "octet"))
    args = ap.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"onnxruntime {ort.__version__}; threads {args.threads}; {args.duration_s} s per measurement\n")
    print("| model | batch | octet FP32 samples/s | octet INT8 samples/s | onnxruntime FP32 samples/s | "
          "FP32 ratio | INT8 ratio | octet FP32 / INT8 / onnxruntime median ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = os.path.join(REPO, "models", f"{name}.onnx")
            plan = build_int8(args.octet, model, tmp)
            for batch in args.batches:
                f_tput, f_med = bench_octet(args.octet, model, batch, args.threads, args.duration_s)
                i_tput, i_med = bench_octet(args.octet, plan, batch, args.threads, args.duration_s)
                r_tput, r_med = bench_onnxruntime(model, batch, args.threads, args.duration_s)
                print(f"| {name} | {batch} | {f_tput:.0f} | {i_tput:.0f} | {r_tput:.0f} | "
                      f"{f_tput / r_tput:.2f}x | {i_tput / r_tput:.2f}x | {f_med:.3f} / {i_med:.3f} / {r_med:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
