#!/usr/bin/python3
"""Train small Fashion-MNIST models and export them to models/*.onnx.

Needs torch + onnx, which live in Debian's interpreter, so run it as

    /usr/bin/python3 scripts/make_sample_models.py

(the pyenv `python3` first on PATH has no torch). Reads the dataset from
Debian's dataset-fashion-mnist package; nothing is downloaded. Writes
models/{lenet,resnet,mobilenetv2}.onnx and models/fashion_mnist.json with the
preprocessing constants and the FP32 test top-1 (percent, 10,000 images) of
each exported model. The outputs are committed so tests never need torch.

Training is deliberately short (2 CPU threads): measured 9.6 min end to end
while the 2 cores were shared with a C++ build; roughly 3-4 min when idle.
"""
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from fashion_mnist_npy import REPO_ROOT, load, META_JSON

# The one definition of the preprocessing; everything else reads it back from
# models/fashion_mnist.json. x = (pixel * scale - mean) / std.
PREPROCESS = {"scale": 1.0 / 255.0, "mean": 0.2860, "std": 0.3530}
INPUT_NAME, OUTPUT_NAME = "input", "logits"
MODELS_DIR = os.path.join(REPO_ROOT, "models")
SEED = 0


# --------------------------------------------------------------------------
# Models. Classification heads use torch.flatten + nn.Linear so that the
# export is Flatten + Gemm (no Shape/Reshape chains under a dynamic batch).

class LeNet(nn.Module):
    """conv-relu-maxpool x2, then three Gemm layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)   # 28x28
        self.conv2 = nn.Conv2d(16, 32, 5)             # 14x14 -> 10x10
        self.fc1 = nn.Linear(32 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet basic block; 1x1 stride-s conv+BN shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3)
        self.down = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        shortcut = x if self.down is None else self.down(x)
        return F.relu(self.b(F.relu(self.a(x))) + shortcut)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3)                  # 28x28
        self.layers = nn.Sequential(
            BasicBlock(16, 32, 2),                     # 14x14, downsample
            BasicBlock(32, 32, 1),                     # identity shortcut
            BasicBlock(32, 64, 2))                     # 7x7, downsample
        self.pool = nn.AdaptiveAvgPool2d(1)            # -> GlobalAveragePool
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(F.relu(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [conv_bn(cin, hidden, 1), nn.ReLU6()]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(),
                   conv_bn(hidden, cout, 1)]           # no activation: linear bottleneck
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        # (cout, stride, expand). Stride-2 stem and an early stride-2 block keep
        # CPU training cheap (depthwise convs are slow in torch on CPU).
        cfg = [(16, 1, 1), (24, 2, 4), (24, 1, 4), (32, 1, 4), (32, 1, 4)]
        layers = [conv_bn(1, 16, 3, 2), nn.ReLU6()]   # 14x14, then 7x7
        cin = 16
        for cout, stride, expand in cfg:
            layers.append(InvertedResidual(cin, cout, stride, expand))
            cin = cout
        layers += [conv_bn(cin, 128, 1), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# name -> (constructor, epochs, batch size, max learning rate). Sized to keep
# the whole script within ~10 min on 2 shared cores.
MODELS = {
    "lenet": (LeNet, 2, 128, 3e-3),
    "resnet": (ResNet, 2, 256, 5e-3),
    "mobilenetv2": (MobileNetV2, 3, 256, 5e-3),
}


# --------------------------------------------------------------------------

def train(model, x, y, epochs, batch, lr):
    """Adam + OneCycle: converges in a couple of epochs."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = (len(x) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"  epoch {epoch + 1}/{epochs} loss {total / steps:.4f}", flush=True)


@torch.no_grad()
def top1_percent(model, x, y):
    model.eval()
    pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return round(100.0 * (pred == y).sum().item() / len(y), 2)


def export(model, path):
    model.eval()  # BatchNorm uses running stats (and gets folded into Conv)
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(2)

    x_train, y_train = (torch.from_numpy(a) for a in load("train", pp=PREPROCESS))
    x_test, y_test = (torch.from_numpy(a) for a in load("test", pp=PREPROCESS))

    meta = {"preprocess": PREPROCESS, "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME, "test_images": len(y_test),
            "top1_unit": "percent", "models": {}}
    t_all = time.time()
    for name, (ctor, epochs, batch, lr) in MODELS.items():
        torch.manual_seed(SEED)  # each model independent of training order
        model = ctor()
        print(f"{name}: training {epochs} epochs on {len(x_train)} images", flush=True)
        t0 = time.time()
        train(model, x_train, y_train, epochs, batch, lr)
        t_train = time.time() - t0
        path = os.path.join(MODELS_DIR, name + ".onnx")
        export(model, path)
        acc = top1_percent(model, x_test, y_test)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {t_train:.0f}s, top1 {acc:.2f}%, {params} params, "
              f"{os.path.getsize(path)} bytes", flush=True)
        meta["models"][name] = {"onnx": name + ".onnx", "fp32_top1": acc, "params": params}

    with open(META_JSON, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"total {time.time() - t_all:.0f}s; wrote {META_JSON}")


if __name__ == "__main__":
    sys.exit(main())
