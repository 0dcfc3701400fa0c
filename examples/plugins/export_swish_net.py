#!/usr/bin/python3
"""Exports swish_net.onnx: Conv -> Swish -> Conv, with Swish exported from PyTorch
as the custom ONNX op example::Swish (beta attribute), which octet runs with the
Swish plugin of liboctet_example_plugins.so (docs/plugins.md).

Needs PyTorch: run with Debian's /usr/bin/python3 (scripts/setup.sh --torch).
    /usr/bin/python3 examples/plugins/export_swish_net.py examples/plugins/swish_net.onnx
"""
import sys

import torch


class SwishFunction(torch.autograd.Function):
    """x * sigmoid(beta * x); exported as one custom op instead of Sigmoid + Mul."""

    @staticmethod
    def forward(ctx, x, beta):
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def symbolic(g, x, beta):
        return g.op("example::Swish", x, beta_f=beta).setType(x.type())


class Swish(torch.nn.Module):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return SwishFunction.apply(x, self.beta)


class SwishNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.swish = Swish(1.5)
        self.conv2 = torch.nn.Conv2d(4, 2, 3)

    def forward(self, x):
        return self.conv2(self.swish(self.conv1(x)))


def main(out_path):
    torch.manual_seed(0)
    model = SwishNet().eval()
    torch.onnx.export(model, torch.randn(1, 1, 8, 8), out_path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13,
                      custom_opsets={"example": 1})
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "swish_net.onnx")
