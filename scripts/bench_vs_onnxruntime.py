#!/usr/bin/env python3
"""octet vs onnxruntime on the sample models, side by side in one run.

For every model and batch size, runs `octet bench` on an FP32 and an INT8 engine
(kernels chosen at that batch; INT8 with octet's default calibrator from 512 training images),
then onnxruntime FP32 (same input shape, thread count and measuring time), and
prints throughput, median latency and the octet/onnxruntime ratios as a
Markdown table. scripts/bench_engine.py is the fuller benchmark (onnxruntime INT8 too,
the ImageNet models, peak figures); this one keeps the README's table.

    python3 scripts/bench_vs_onnxruntime.py [--models lenet resnet mobilenetv2]
        [--batches 1 64] [--threads 2] [--duration-s 5] [--octet build/octet]
"""
import argparse
import os
import platform
import sys
import tempfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_engine  # noqa: E402  (octet build and bench)
import fashion_mnist_npy  # noqa: E402
import onnxruntime_int8  # noqa: E402  (onnxruntime sessions and timing)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_plans(octet, model, tmp, batch, threads):
    """FP32 and INT8 plans with kernels chosen at `batch` on `threads` threads (as
    bench_engine.py builds them); the model's first INT8 build calibrates and writes its
    cache, the next reads it."""
    calib = os.path.join(tmp, "calib.npy")
    if not os.path.exists(calib):
        np.save(calib, fashion_mnist_npy.load("train", 512)[0])
    stem = os.path.join(tmp, os.path.basename(model))
    fp32, int8 = f"{stem}.fp32.b{batch}.plan", f"{stem}.int8.b{batch}.plan"
    bench_engine.build_plan(octet, model, fp32, batch, threads)
    bench_engine.build_plan(octet, model, int8, batch, threads, calib, stem + ".calib.cache")
    return fp32, int8


def bench_octet(octet, model, batch, threads, duration_s):
    return bench_engine.bench_octet(octet, model, batch, threads, duration_s)[:2]


def bench_onnxruntime(model, batch, threads, duration_s):
    sess = onnxruntime_int8.session(model, threads)
    return onnxruntime_int8.time_session(sess, onnxruntime_int8.random_feed(sess, batch), duration_s,
                                         min_iterations=1)[:2]


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
            for batch in args.batches:
                fp32_plan, int8_plan = build_plans(args.octet, model, tmp, batch, args.threads)
                f_tput, f_med = bench_octet(args.octet, fp32_plan, batch, args.threads, args.duration_s)
                i_tput, i_med = bench_octet(args.octet, int8_plan, batch, args.threads, args.duration_s)
                r_tput, r_med = bench_onnxruntime(model, batch, args.threads, args.duration_s)
                print(f"| {name} | {batch} | {f_tput:.0f} | {i_tput:.0f} | {r_tput:.0f} | "
                      f"{f_tput / r_tput:.2f}x | {i_tput / r_tput:.2f}x | {f_med:.3f} / {i_med:.3f} / {r_med:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
