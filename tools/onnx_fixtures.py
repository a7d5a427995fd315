#!/usr/bin/python3
"""onnx_fixtures.py — the ONNX fixtures of tests/test_onnx.c (a developer script, never run in CI).

torchvision's MobileNetV2 and MobileNetV3-small (width 0.25, 10 classes: small files) with
random weights and random batch-norm statistics (fixed seed), in eval mode, exported by
PyTorch's own exporter (static input 1x3x64x64), and PyTorch's outputs on a fixed input:
    tests/fixtures/onnx/mobilenet_v2.onnx            opset 13
    tests/fixtures/onnx/mobilenet_v2.bin             float32 little-endian: the NCHW input, then
                                                     the logits
    tests/fixtures/onnx/mobilenet_v3_small_op13.onnx opset 13: hard-swish as x * HardSigmoid(x)
    tests/fixtures/onnx/mobilenet_v3_small_op17.onnx opset 17: HardSwish
    tests/fixtures/onnx/mobilenet_v3_small.bin       the same model's input and logits

Needs Debian's python3-torch and python3-torchvision (apt-get install python3-torchvision).
    /usr/bin/python3 tools/onnx_fixtures.py   (Debian's python, where python3-torch is)
"""
import os
import struct

import torch
import torchvision

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "onnx")


def randomise_bn(model, gen):
    # fresh batch-norm layers are the identity: random statistics make import test them
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def randomise_linear(model, gen):
    # torchvision's classifier init (std 0.01) makes outputs of 1e-3: scale them to about 1,
    # so that a relative error of 1e-4 measures something
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen) * 2.0 / m.in_features ** 0.5)
            m.bias.data.copy_(torch.randn(m.out_features, generator=gen) * 0.1)


def fixture(name, model, size=64, opsets=None, linear=False):
    gen = torch.Generator().manual_seed(1234)
    randomise_bn(model, gen)
    if linear:
        randomise_linear(model, gen)
    model.eval()
    x = torch.randn(1, 3, size, size, generator=gen)
    with torch.no_grad():
        y = model(x)
    for opset in opsets or [None]:
        path = os.path.join(OUT, name + (".onnx" if opset is None else "_op%d.onnx" % opset))
        torch.onnx.export(model, x, path, opset_version=opset or 13, input_names=["input"],
                          output_names=["logits"], do_constant_folding=True)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        vals = x.flatten().tolist() + y.flatten().tolist()
        f.write(struct.pack("<%df" % len(vals), *vals))
    print("%s: %d bytes, outputs %s" % (path, os.path.getsize(path), [round(v, 4) for v in y.flatten().tolist()[:4]]))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    fixture("mobilenet_v2", torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10))
    torch.manual_seed(0)
    fixture("mobilenet_v3_small",
            torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=10), opsets=[13, 17],
            linear=True)


if __name__ == "__main__":
    main()
