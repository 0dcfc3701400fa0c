#!/usr/bin/env python3
"""ResNet-50 on the GPU: octet's INT8 engine against PyTorch FP16 (and FP32) eager.

Exports torchvision's ResNet-50 (seeded random weights: throughput does not depend
on them) to ONNX, builds octet engines for the GPU (`--device cuda`: INT8,
calibrated on 64 seeded samples, and FP16 and FP32), runs `octet bench --device
cuda` on each at the batch size, and times the same network in PyTorch eager on the same GPU with CUDA
events (median of timed runs after warm-up; NCHW and channels-last, the faster
counts). Prints a table; with --json, writes the figures.

    python3 scripts/gpu_bench.py --octet BUILD/octet [--batch 256] [--json out.json]
Needs a CUDA GPU and PyTorch with torchvision (the GPU machine's python3).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_imagenet_models  # noqa: E402


def torch_throughput(model, batch, dtype, channels_last, iters=30, warmup=10):
    model = model.to("cuda", dtype)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            stop.record()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(start.elapsed_time(stop))
    return batch / (np.median(times) / 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--octet", required=True)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--duration-s", type=float, default=5)
    ap.add_argument("--json")
    ap.add_argument("--profile", help="also write `octet bench --profile`'s per-layer GPU times to this file")
    ap.add_argument("--save-plan", help="copy the INT8 GPU plan here (for profilers)")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as tmp:
        export_imagenet_models.export("resnet50", tmp)
        onnx = os.path.join(tmp, "resnet50.onnx")
        calib = os.path.join(tmp, "calib.npy")
        np.save(calib, np.random.default_rng(0).standard_normal((64, 3, 224, 224), dtype=np.float32))
        # octet's GPU engines: INT8 (the headline), FP16 and FP32 (--device cuda without --int8).
        octet = {}
        for precision, flags in (("int8", ["--int8", "--calib-data", calib]), ("fp16", ["--fp16"]), ("fp32", [])):
            plan = os.path.join(tmp, f"resnet50.{precision}.cuda.plan")
            subprocess.run([args.octet, "build", onnx, *flags, "--device", "cuda", "-o", plan, "--quiet"], check=True)
            if precision == "int8" and args.save_plan:
                shutil.copyfile(plan, args.save_plan)
            report = os.path.join(tmp, f"bench.{precision}.json")
            duration = args.duration_s if precision == "int8" else min(args.duration_s, 2)
            subprocess.run([args.octet, "bench", plan, "--device", "cuda", "--batch", str(args.batch),
                            "--duration-s", str(duration), "--json", report], check=True)
            with open(report) as f:
                octet[precision] = json.load(f)
            if precision == "int8" and args.profile:
                with open(args.profile, "w") as f:
                    subprocess.run([args.octet, "bench", plan, "--device", "cuda", "--batch", str(args.batch),
                                    "--duration-s", "1", "--profile"], check=True, stdout=f)

        torch.manual_seed(export_imagenet_models.SEED)
        rows = {}
        for dtype, name in ((torch.float16, "fp16"), (torch.float32, "fp32")):
            for layout in (False, True):
                model = export_imagenet_models.MODELS["resnet50"](weights=None).eval()
                rows[(name, layout)] = torch_throughput(model, args.batch, dtype, layout)
    fp16 = max(rows[("fp16", False)], rows[("fp16", True)])
    fp32 = max(rows[("fp32", False)], rows[("fp32", True)])
    compute = {p: args.batch / (r["gpu_compute_ms"]["median"] / 1000) for p, r in octet.items()}
    end_to_end = octet["int8"]["throughput_samples_per_s"]
    gpu = torch.cuda.get_device_name(0)
    print(f"\n== ResNet-50, batch {args.batch}, {gpu} (torch {torch.__version__}) ==")
    print("| engine | images/s | vs PyTorch FP16 eager |")
    print("|---|---|---|")
    for (name, layout), ips in rows.items():
        print(f"| PyTorch {name.upper()} eager, {'channels-last' if layout else 'NCHW'} | {ips:.0f} | {ips / fp16:.2f}x |")
    for precision in ("fp32", "fp16", "int8"):
        print(f"| octet {precision.upper()}, GPU compute time | {compute[precision]:.0f} | {compute[precision] / fp16:.2f}x |")
    print(f"| octet INT8, end to end (host copies included) | {end_to_end:.0f} | {end_to_end / fp16:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": gpu, "batch": args.batch, "torch": {f"{k[0]}_{'nhwc' if k[1] else 'nchw'}": v for k, v in rows.items()},
                       "octet_int8_compute": compute["int8"], "octet_fp16_compute": compute["fp16"],
                       "octet_fp32_compute": compute["fp32"], "octet_int8_end_to_end": end_to_end,
                       "ratio_vs_fp16_eager": compute["int8"] / fp16, "ratio_vs_fp32_eager": compute["int8"] / fp32}, f,
                      indent=1)


if __name__ == "__main__":
    main()
