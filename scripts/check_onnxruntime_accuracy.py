#!/usr/bin/env python3
"""Cross-check models/*.onnx in onnxruntime against models/fashion_mnist.json.

Runs every model listed in the JSON on the 10,000 Fashion-MNIST test images
(preprocessed by fashion_mnist_npy.py) and compares onnxruntime's top-1 with
the fp32_top1 that make_sample_models.py measured in torch. Exits 1 if any
model differs by more than TOLERANCE percentage points.

Needs numpy + onnxruntime (the pyenv python3 on PATH has both):

    python3 scripts/check_onnxruntime_accuracy.py
"""
import os
import sys

import numpy as np
import onnxruntime as ort

from fashion_mnist_npy import load, load_meta, META_JSON

TOLERANCE = 0.05  # percentage points, i.e. 5 of 10,000 images


def main():
    meta = load_meta()
    x, y = load("test", pp=meta["preprocess"])
    models_dir = os.path.dirname(META_JSON)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2

    failed = False
    print(f"{'model':<14}{'onnxruntime':>12}{'json fp32':>12}{'diff':>8}")
    for name, info in meta["models"].items():
        sess = ort.InferenceSession(os.path.join(models_dir, info["onnx"]), opts,
                                    providers=["CPUExecutionProvider"])
        pred = np.concatenate([
            sess.run([meta["output_name"]], {meta["input_name"]: x[i:i + 1000]})[0].argmax(1)
            for i in range(0, len(x), 1000)])
        acc = 100.0 * np.count_nonzero(pred == y) / len(y)
        diff = acc - info["fp32_top1"]
        bad = abs(diff) > TOLERANCE + 1e-9  # JSON values are rounded to 0.01
        failed |= bad
        print(f"{name:<14}{acc:>11.2f}%{info['fp32_top1']:>11.2f}%{diff:>+8.2f}"
              + ("  MISMATCH" if bad else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
