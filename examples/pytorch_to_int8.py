#!/usr/bin/python3
"""PyTorch -> ONNX -> calibrated INT8 octet engine, written the way TensorRT users write it.

Runs with Debian's /usr/bin/python3 (which has torch; scripts/setup.sh --torch) and the
octet module built by scripts/build.sh:

    PYTHONPATH=build/python /usr/bin/python3 examples/pytorch_to_int8.py

1. trains a small CNN on Fashion-MNIST (Debian's dataset-fashion-mnist), or loads the
   weights a previous run saved in the work folder;
2. exports it with torch.onnx.export;
3. writes calibration images to disk (PGM) and calibrates with a Python subclass of
   octet.IInt8MseCalibrator that reads them back, keeping its cache in a file;
4. builds FP32 and INT8 engines, prints PyTorch / octet FP32 / octet INT8 accuracy on
   the 10,000 test images and their speed, and saves the INT8 plan and the cache.

A second run finds the cache, skips calibration and says so.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import fashion_mnist_npy  # noqa: E402  (the repo's one Fashion-MNIST reader)

try:
    import octet  # noqa: E402
except ImportError as e:
    sys.exit(f"cannot import octet ({e}): build it with scripts/build.sh and run with PYTHONPATH=build/python")

BATCH = 64


class SmallCNN(nn.Module):
    """Two conv-relu-maxpool stages and a two-layer classifier (Flatten + Gemm in ONNX)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.fc1 = nn.Linear(32 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def train(model, x, y, epochs):
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
        print(f"  epoch {epoch + 1}/{epochs} done")
    model.eval()


def read_pgm(path):
    with open(path, "rb") as f:
        magic, width, height, maxval = f.readline(), *map(int, f.readline().split()), int(f.readline())
        assert magic.strip() == b"P5" and maxval == 255, f"{path}: not an 8-bit binary PGM"
        return np.frombuffer(f.read(), np.uint8).reshape(height, width)


class ImageFileCalibrator(octet.IInt8MseCalibrator):
    """Batches of image files, preprocessed as in training, and a cache file.

    octet's default algorithm (MSE) keeps FP32 accuracy on these images; subclass
    octet.IInt8EntropyCalibrator2 instead for TensorRT's default.
    """

    def __init__(self, files, preprocess, batch_size, cache_path):
        super().__init__()
        self.files, self.preprocess, self.batch_size, self.cache_path = files, preprocess, batch_size, cache_path
        self.next = 0
        self.batches = 0

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        if self.next + self.batch_size > len(self.files):
            return None
        images = np.stack([read_pgm(f) for f in self.files[self.next:self.next + self.batch_size]])
        self.next += self.batch_size
        self.batches += 1
        return [fashion_mnist_npy.preprocess(images, self.preprocess)]  # float32 N x 1 x 28 x 28

    def read_calibration_cache(self):
        if os.path.exists(self.cache_path):
            with open(self.cache_path, "rb") as f:
                return f.read()
        return None

    def write_calibration_cache(self, cache):
        with open(self.cache_path, "wb") as f:
            f.write(cache)


def top1(predict, x, y):
    logits = np.concatenate([predict(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    return 100.0 * (logits.argmax(1) == y).mean()


def samples_per_second(predict, x, seconds=1.0):
    predict(x)  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict(x)
        runs += 1
    return runs * len(x) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work-dir", default=os.path.join(REPO, "out", "pytorch_to_int8"),
                    help="weights, ONNX model, calibration images, cache and plan (default: %(default)s)")
    ap.add_argument("--train-images", type=int, default=30000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--calib-images", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2,
                    help="for PyTorch and octet; more than the idle cores slows both down a lot")
    args = ap.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    weights, onnx_path = os.path.join(args.work_dir, "model.pt"), os.path.join(args.work_dir, "model.onnx")
    cache_path, plan_path = os.path.join(args.work_dir, "calibration.cache"), os.path.join(args.work_dir, "model_int8.plan")
    torch.set_num_threads(args.threads)
    octet.set_num_threads(args.threads)
    started = time.perf_counter()
    preprocess = fashion_mnist_npy.load_meta()["preprocess"]

    torch.manual_seed(0)  # the weights' initialisation and the batch order
    model = SmallCNN()
    if os.path.exists(weights):
        model.load_state_dict(torch.load(weights))
        model.eval()
        print(f"loaded {weights}")
    else:
        print(f"training on {args.train_images} Fashion-MNIST images, {args.epochs} epochs ({args.threads} threads)")
        x_train, y_train = fashion_mnist_npy.load("train", args.train_images, pp=preprocess)
        train(model, x_train, y_train, args.epochs)
        torch.save(model.state_dict(), weights)
        for stale in (cache_path, cache_path + ".octet.json"):  # made for the previous weights
            if os.path.exists(stale):
                os.remove(stale)

    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    print(f"exported {onnx_path}")

    # Calibration images on disk, from the end of the training set (not trained on above).
    images, _ = fashion_mnist_npy.load_raw("train")
    image_dir = os.path.join(args.work_dir, "calibration_images")
    os.makedirs(image_dir, exist_ok=True)
    files = []
    for i, image in enumerate(images[-args.calib_images:]):
        files.append(os.path.join(image_dir, f"{i:05d}.pgm"))
        fashion_mnist_npy.write_pgm(files[-1], image)

    logger = octet.Logger(octet.Logger.INFO)
    builder = octet.Builder(logger)
    network = builder.create_network()
    octet.OnnxParser(network, logger).parse_from_file(onnx_path)

    fp32_engine = builder.build_engine(network, builder.create_builder_config())

    calibrator = ImageFileCalibrator(files, preprocess, batch_size=32, cache_path=cache_path)
    config = builder.create_builder_config()
    config.set_flag(octet.BuilderFlag.INT8)
    config.int8_calibrator = calibrator
    config.calibration_cache_path = cache_path  # octet fingerprints the cache: a cache for other weights is refused
    cache_existed = os.path.exists(cache_path)
    with open(plan_path, "wb") as f:
        f.write(builder.build_serialized_network(network, config))
    if calibrator.batches == 0:
        print(f"reused calibration cache {cache_path}: calibration skipped")
    else:
        print(f"calibrated on {calibrator.batches * calibrator.batch_size} images from {image_dir}"
              + (" (the cache was not usable)" if cache_existed else "") + f"; wrote {cache_path}")
    print(f"wrote {plan_path}")
    int8_engine = octet.Runtime(logger).deserialize_cuda_engine(open(plan_path, "rb").read())

    x_test, y_test = fashion_mnist_npy.load("test", pp=preprocess)
    fp32_context, int8_context = fp32_engine.create_execution_context(), int8_engine.create_execution_context()

    def torch_predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    predictors = {
        "PyTorch FP32": torch_predict,
        "octet FP32": lambda x: fp32_context.execute({"input": x})["logits"],
        "octet INT8": lambda x: int8_context.execute({"input": x})["logits"],
    }
    print(f"\n{'':14} {'top-1 (10,000 test images)':>27} {'batch 1 samples/s':>18} {'batch 64 samples/s':>19}")
    for name, predict in predictors.items():
        accuracy = top1(predict, x_test, y_test)
        speed1, speed64 = samples_per_second(predict, x_test[:1]), samples_per_second(predict, x_test[:64])
        print(f"{name:14} {accuracy:26.2f}% {speed1:18.0f} {speed64:19.0f}")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
