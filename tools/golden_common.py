"""Shared helpers of the developer scripts that write PyTorch reference fixtures for vigie's
tests. Developer-only: needs Debian's python3-torch; never run by the product or by CI.

Fixture format (little-endian), read by tests/fixture.c:
    magic  b"VGFX"      u32 version (1)      u32 n_tensors
    per tensor: u32 name_len, name (utf-8), u32 ndim, u32 dims[ndim], f32 data[prod(dims)]
Tensors are stored in PyTorch's own layout (NCHW activations, OIHW weights): the C side does
the layout conversion, so the fixture also checks that vigie's layouts are understood.
"""
import struct

import torch
import torch.nn.functional as F

MAGIC = b"VGFX"
VERSION = 1


def write_fixture(path, tensors):
    """tensors: list of (name, torch.Tensor)."""
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", VERSION, len(tensors)))
        for name, t in tensors:
            t = t.detach().to(torch.float32).contiguous().cpu()
            b = name.encode()
            f.write(struct.pack("<I", len(b)))
            f.write(b)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack("<%dI" % t.dim(), *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())


def same_pad(x, k, s):
    """TensorFlow 'SAME' padding: the odd pixel goes after (bottom/right), as in TFLite."""
    def amounts(n):
        out = (n + s - 1) // s
        total = max((out - 1) * s + k - n, 0)
        return total // 2, total - total // 2
    top, bottom = amounts(x.shape[2])
    left, right = amounts(x.shape[3])
    return F.pad(x, (left, right, top, bottom))
