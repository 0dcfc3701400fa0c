#!/usr/bin/env python3
"""INT8 accuracy of every calibrator on the sample Fashion-MNIST models.

For each model and calibrator: `octet build --int8` with 512 training images as
calibration data, then `octet compare` on the 10,000 test images. Prints a
Markdown table: FP32 and INT8 top-1, the difference, and engine size against
ONNX size.

    python3 scripts/int8_accuracy.py [--models lenet resnet mobilenetv2]
        [--calibrators mse entropy2 entropy minmax percentile=99.99] [--octet build/octet]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist_npy  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALIBRATION_IMAGES = 512


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "resnet", "mobilenetv2"])
    ap.add_argument("--calibrators", nargs="+",
                    default=["mse", "entropy2", "entropy", "minmax", "percentile=99.99"])
    ap.add_argument("--octet", default=os.path.join(REPO, "build", "octet"))
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        calib, _ = fashion_mnist_npy.load("train", CALIBRATION_IMAGES)
        test_x, test_y = fashion_mnist_npy.load("test")
        paths = {name: os.path.join(tmp, name + ".npy") for name in ("calib", "x", "y")}
        np.save(paths["calib"], calib)
        np.save(paths["x"], test_x)
        np.save(paths["y"], test_y)

        print("| model | calibrator | FP32 top-1 | INT8 top-1 | difference | ONNX size | engine size |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for model in args.models:
            onnx_path = os.path.join(REPO, "models", model + ".onnx")
            for calibrator in args.calibrators:
                plan = os.path.join(tmp, "engine.plan")
                report = os.path.join(tmp, "compare.json")
                subprocess.run([args.octet, "build", onnx_path, "--int8", "--calibrator", calibrator,
                                "--calib-data", paths["calib"], "-o", plan, "--quiet"], check=True)
                subprocess.run([args.octet, "compare", onnx_path, plan, "--data", paths["x"],
                                "--labels", paths["y"], "--json", report], check=True,
                               stdout=subprocess.DEVNULL)
                with open(report) as f:
                    r = json.load(f)
                row = {"model": model, "calibrator": calibrator,
                       "fp32_top1": 100 * r["reference_top1"], "int8_top1": 100 * r["engine_top1"],
                       "onnx_bytes": os.path.getsize(onnx_path), "engine_bytes": os.path.getsize(plan)}
                rows.append(row)
                print(f"| {model} | {calibrator}{' (default)' if calibrator == 'mse' else ''} | "
                      f"{row['fp32_top1']:.2f}% | {row['int8_top1']:.2f}% | "
                      f"{row['int8_top1'] - row['fp32_top1']:+.2f} | {row['onnx_bytes'] / 1024:.0f} KiB | "
                      f"{row['engine_bytes'] / 1024:.0f} KiB |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
