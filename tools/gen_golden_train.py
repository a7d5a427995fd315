#!/usr/bin/env python3
"""Writes tests/fixtures/golden_train.bin: one training batch through a small MobileNetV2-shaped
network with batch-norm in *training* mode (batch statistics), a cross-entropy loss with class
weights and label smoothing, every parameter gradient, and the losses of 5 optimizer steps on
the same batch with SGD + momentum + weight decay and, separately from the same start, AdamW;
plus the BN running statistics after the SGD steps. Computed in float64.

Developer-only (Debian python3-torch). Run from the repository root:
    python3 tools/gen_golden_train.py
The C test (tests/test_golden_train.c) matches gradients to 1e-4 and losses to 1e-5 (relative).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden_forward import LAYERS, N_CLASSES, make_params  # noqa: E402
from golden_common import same_pad, write_fixture  # noqa: E402

BN_EPS = 1e-3
BN_MOMENTUM = 0.1
SMOOTHING = 0.1
CLASS_W = [1.0, 0.5, 2.0, 1.5, 0.8]
N, H, W = 4, 23, 18
STEPS = 5
SGD = dict(lr=0.05, momentum=0.9, weight_decay=1e-3)
ADAMW = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)

torch.set_default_dtype(torch.float64)


def forward(x, p, stats):
    """Training-mode forward; `stats` holds the running mean/var buffers (updated)."""
    for name, kind, cin, cout, k, s, pad, relu6 in LAYERS:
        if pad == "same":
            x = same_pad(x, k, s)
            pad = 0
        x = F.conv2d(x, p[name + ".weight"], None, s, pad, groups=cin if kind == "dw" else 1)
        x = F.batch_norm(x, stats[name + ".running_mean"], stats[name + ".running_var"],
                         p[name + ".bn.weight"], p[name + ".bn.bias"], True, BN_MOMENTUM, BN_EPS)
        if relu6:
            x = F.relu6(x)
        if name == "b2.project":
            skip = x
        if name == "b3.project":
            x = x + skip
    x = x.mean(dim=(2, 3))
    return F.linear(x, p["fc.weight"], p["fc.bias"])


def loss_fn(logits, y):
    return F.cross_entropy(logits, y, weight=torch.tensor(CLASS_W), label_smoothing=SMOOTHING)


def trainable(p0):
    """Parameters as leaf tensors (the BN running statistics are not parameters)."""
    names = sorted(k for k in p0 if not (k.endswith("running_mean") or k.endswith("running_var")))
    return names, {k: p0[k].clone().requires_grad_(True) for k in names}


def fresh_stats(p0):
    st = {}
    for name, _kind, _cin, cout, *_ in LAYERS:
        st[name + ".running_mean"] = p0[name + ".bn.running_mean"].clone()
        st[name + ".running_var"] = p0[name + ".bn.running_var"].clone()
    return st


def run_steps(p0, x, y, opt_cls, opt_args):
    names, p = trainable(p0)
    stats = fresh_stats(p0)
    opt = opt_cls([p[k] for k in names], **opt_args)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(forward(x, p, stats), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses), stats


def main():
    torch.manual_seed(777)
    p0 = make_params()
    x = torch.rand(N, 3, H, W) * 2 - 1
    y = torch.tensor([2, 0, 4, 2])

    names, p = trainable(p0)
    stats = fresh_stats(p0)
    logits = forward(x, p, stats)
    loss = loss_fn(logits, y)
    loss.backward()

    sgd_losses, sgd_stats = run_steps(p0, x, y, torch.optim.SGD, SGD)
    adamw_losses, _ = run_steps(p0, x, y, torch.optim.AdamW, ADAMW)

    cfg = torch.tensor([BN_EPS, BN_MOMENTUM, SMOOTHING, STEPS,
                        SGD["lr"], SGD["momentum"], SGD["weight_decay"],
                        ADAMW["lr"], ADAMW["betas"][0], ADAMW["betas"][1], ADAMW["eps"],
                        ADAMW["weight_decay"]])
    tensors = [("config", cfg), ("class_weights", torch.tensor(CLASS_W)), ("input", x),
               ("labels", y.to(torch.float64))]
    tensors += sorted(p0.items())
    tensors += [("logits", logits), ("loss", loss.detach().reshape(1))]
    tensors += [("grad." + k, p[k].grad) for k in names]
    tensors += [("sgd.losses", sgd_losses), ("adamw.losses", adamw_losses)]
    tensors += [("sgd.stats." + k, v) for k, v in sorted(sgd_stats.items())]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                       "golden_train.bin")
    write_fixture(out, tensors)
    print("wrote %s: loss %.6f, sgd %s, adamw %s" % (os.path.normpath(out), loss.item(),
                                                    sgd_losses.tolist(), adamw_losses.tolist()))


if __name__ == "__main__":
    main()
