#!/usr/bin/env python3
"""Fashion-MNIST -> preprocessed .npy files (numpy only; any python3 works).

Reads the IDX files shipped by Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist, override with $FASHION_MNIST_DIR) and
applies the preprocessing recorded in models/fashion_mnist.json:

    x = (pixel * scale - mean) / std      float32, N x 1 x 28 x 28

Labels are written as int64. Example:

    scripts/fashion_mnist_npy.py --split test --count 1000 --offset 0 \\
        --out /tmp/x.npy --labels-out /tmp/y.npy

Also imported as a module by make_sample_models.py and
check_onnxruntime_accuracy.py so that all three share one loader.
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META_JSON = os.path.join(REPO_ROOT, "models", "fashion_mnist.json")
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path):
    """Parse a gzipped IDX file (uint8 payload) into an ndarray."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    # Header: 2 zero bytes, dtype code (0x08 = uint8), ndim, then ndim
    # big-endian uint32 dimensions.
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_raw(split):
    """(images uint8 N x 28 x 28, labels uint8 N) for split 'train' or 'test'."""
    prefix = os.path.join(DATA_DIR, SPLIT_PREFIX[split])
    images = read_idx(prefix + "-images-idx3-ubyte.gz")
    labels = read_idx(prefix + "-labels-idx1-ubyte.gz")
    assert images.shape[0] == labels.shape[0]
    return images, labels


def load_meta(path=META_JSON):
    with open(path) as f:
        return json.load(f)


def preprocess(images, pp):
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28 using pp = {scale, mean, std}."""
    x = images.astype(np.float32) * np.float32(pp["scale"])
    x = (x - np.float32(pp["mean"])) / np.float32(pp["std"])
    return x[:, None, :, :]


def load(split, count=None, offset=0, pp=None):
    """Preprocessed (x float32 N x 1 x 28 x 28, y int64 N).

    pp defaults to the "preprocess" block of models/fashion_mnist.json.
    """
    if pp is None:
        pp = load_meta()["preprocess"]
    images, labels = load_raw(split)
    end = len(images) if count is None else offset + count
    if offset < 0 or end > len(images):
        raise ValueError(f"{split} has {len(images)} images; asked for [{offset}, {end})")
    return preprocess(images[offset:end], pp), labels[offset:end].astype(np.int64)


def write_pgm(path, image):
    """A binary PGM (P5) of a uint8 H x W image (stb_image, and so octet, reads PNM)."""
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (image.shape[1], image.shape[0]) + image.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=SPLIT_PREFIX, required=True)
    ap.add_argument("--count", type=int, default=None, help="default: all after --offset")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--out", required=True, help="images .npy (float32 N x 1 x 28 x 28)")
    ap.add_argument("--labels-out", help="labels .npy (int64 N)")
    args = ap.parse_args()

    try:
        x, y = load(args.split, args.count, args.offset)
    except ValueError as e:
        ap.error(str(e))
    np.save(args.out, x)
    if args.labels_out:
        np.save(args.labels_out, y)
    print(f"wrote {args.out} {x.shape} {x.dtype}"
          + (f", {args.labels_out} {y.shape} {y.dtype}" if args.labels_out else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
