#!/usr/bin/python3
"""Export torchvision ResNet-50 and MobileNetV2 (random weights) to ONNX for speed benchmarks.

Run with Debian's python3 (torch + torchvision, CPU); nothing is downloaded: the
weights are random (seeded), which is all a throughput measurement needs.

    /usr/bin/python3 scripts/export_imagenet_models.py [OUT_DIR]   # default build/models/imagenet

Writes OUT_DIR/resnet50.onnx (~100 MB), OUT_DIR/mobilenet_v2.onnx (~14 MB) — opset 13,
input "input" [batch, 3, 224, 224] with a dynamic batch, output "logits" — and
OUT_DIR/calib.npy: 64 seeded standard-normal 3x224x224 samples for INT8 calibration.
These files are build outputs and must not be committed.
"""
import argparse
import inspect
import os

import numpy as np
import torch
import torchvision

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "build", "models", "imagenet")
MODELS = {"resnet50": torchvision.models.resnet50, "mobilenet_v2": torchvision.models.mobilenet_v2}
CALIB_SAMPLES = 64
SEED = 0


def export(name, out_dir):
    torch.manual_seed(SEED)
    model = MODELS[name](weights=None).eval()
    path = os.path.join(out_dir, name + ".onnx")
    dummy = torch.randn(1, 3, 224, 224)
    # PyTorch 2.9 and later export through dynamo by default; the TorchScript exporter gives the same graph as 1.13's.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(model, dummy, path, opset_version=13, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **legacy)
    print(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.models:
        export(name, args.out_dir)
    calib = os.path.join(args.out_dir, "calib.npy")
    x = np.random.default_rng(SEED).standard_normal((CALIB_SAMPLES, 3, 224, 224), dtype=np.float32)
    np.save(calib, x)
    print(f"wrote {calib} {x.shape} {x.dtype}")


if __name__ == "__main__":
    main()
