#!/usr/bin/env python3
"""Writes tests/fixtures/golden_forward.bin: input, weights and outputs of a small
MobileNetV2-shaped network (inverted residual blocks, depthwise convs, residual add, BN in
inference mode, ReLU6, TF-SAME asymmetric and symmetric padding, stride 2, channel counts that
are not multiples of 8, non-square odd input), computed by PyTorch in float64.

Developer-only (Debian python3-torch). Run from the repository root:
    python3 tools/gen_golden_forward.py
The C test (tests/test_golden.c) builds the same network with vigie's graph builder and
checks logits and probabilities to 1e-4 relative error.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import same_pad, write_fixture  # noqa: E402

BN_EPS = 1e-3
torch.manual_seed(20261125)
torch.set_default_dtype(torch.float64)

# (name, kind, cin, cout, k, stride, padding) with padding "same" (TF, asymmetric) or an int
# (symmetric, PyTorch style). Every conv is followed by BN; relu6 says whether ReLU6 follows.
LAYERS = [
    ("stem", "conv", 3, 10, 3, 2, "same", True),
    ("b1.dw", "dw", 10, 10, 3, 1, 1, True),
    ("b1.project", "conv", 10, 7, 1, 1, 0, False),
    ("b2.expand", "conv", 7, 30, 1, 1, 0, True),
    ("b2.dw", "dw", 30, 30, 3, 2, "same", True),
    ("b2.project", "conv", 30, 12, 1, 1, 0, False),
    ("b3.expand", "conv", 12, 36, 1, 1, 0, True),
    ("b3.dw", "dw", 36, 36, 3, 1, 1, True),
    ("b3.project", "conv", 36, 12, 1, 1, 0, False),  # + residual from b2.project
    ("b4.expand", "conv", 12, 21, 1, 1, 0, True),
    ("b4.dw", "dw", 21, 21, 5, 2, 2, True),  # 5x5 stride 2 symmetric
    ("b4.project", "conv", 21, 9, 1, 1, 0, False),
    ("head", "conv", 9, 20, 1, 1, 0, True),
]
N_CLASSES = 5
N, H, W = 2, 23, 18


def make_params():
    p = {}
    for name, kind, cin, cout, k, _s, _pad, _act in LAYERS:
        fan_in = (1 if kind == "dw" else cin) * k * k
        shape = (cout, 1, k, k) if kind == "dw" else (cout, cin, k, k)
        p[name + ".weight"] = torch.randn(shape) * (2.0 / fan_in) ** 0.5
        p[name + ".bn.weight"] = torch.rand(cout) + 0.5
        p[name + ".bn.bias"] = torch.randn(cout) * 0.1
        p[name + ".bn.running_mean"] = torch.randn(cout) * 0.1
        p[name + ".bn.running_var"] = torch.rand(cout) + 0.5
    p["fc.weight"] = torch.randn(N_CLASSES, 20) * 0.3
    p["fc.bias"] = torch.randn(N_CLASSES) * 0.1
    return p


def forward(x, p):
    acts = {}
    for name, kind, cin, cout, k, s, pad, relu6 in LAYERS:
        if pad == "same":
            x = same_pad(x, k, s)
            pad = 0
        x = F.conv2d(x, p[name + ".weight"], None, s, pad, groups=cin if kind == "dw" else 1)
        x = F.batch_norm(x, p[name + ".bn.running_mean"], p[name + ".bn.running_var"],
                         p[name + ".bn.weight"], p[name + ".bn.bias"], False, 0.0, BN_EPS)
        if relu6:
            x = F.relu6(x)
        if name == "b2.project":
            skip = x
        if name == "b3.project":
            x = x + skip
        acts[name] = x
    x = x.mean(dim=(2, 3))
    logits = F.linear(x, p["fc.weight"], p["fc.bias"])
    return logits, F.softmax(logits, dim=1), acts


def main():
    p = make_params()
    x = torch.rand(N, 3, H, W) * 2 - 1
    logits, probs, acts = forward(x, p)
    tensors = [("config.bn_eps", torch.tensor([BN_EPS])), ("input", x)]
    tensors += sorted(p.items())
    tensors += [("act." + k, v) for k, v in acts.items()]
    tensors += [("logits", logits), ("probs", probs)]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                       "golden_forward.bin")
    write_fixture(out, tensors)
    print("wrote %s: %d tensors, logits %s" % (os.path.normpath(out), len(tensors),
                                               logits[0].tolist()))


if __name__ == "__main__":
    main()
