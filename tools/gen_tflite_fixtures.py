#!/usr/bin/python3
"""Writes small synthetic TensorFlow Lite files and their expected outputs, for
tests/test_tflite_synth.c. They exercise importer paths that the two real MobileNetV2 files in
../shared/models do not: float32 weights, FULLY_CONNECTED, MEAN, VALID padding, non-square
inputs and strides, int8 per-channel weights (conv: quantized_dimension 0, depthwise: 3),
RESHAPE / SQUEEZE / QUANTIZE / DEQUANTIZE as aliases, fused RELU, an int8 graph input; and
files the importer must refuse with a clear message.

Developer-only: needs Debian's python3 with numpy and python3-torch (for golden_common) and
Debian's `flatc`; never run by the product or by CI. Run from the repository root:
    /usr/bin/python3 tools/gen_tflite_fixtures.py
It is deterministic (fixed seed) and writes, in tests/fixtures/:
    tiny_float.tflite      float32 net, input 1x11x9x3:
                           CONV_2D 3x3/2 SAME RELU6 -> DEPTHWISE_CONV_2D 3x3/1 VALID RELU ->
                           CONV_2D 1x1 -> ADD (with the depthwise output, fused RELU) ->
                           CONV_2D 1x1 RELU6 -> MEAN [1,2] (keep_dims false) -> RESHAPE
                           [1,1,1,C] -> FULLY_CONNECTED (+bias) -> SOFTMAX
    tiny_int8.tflite       int8 net, uint8 input 1x10x13x3 -> QUANTIZE (uint8 -> int8) ->
                           CONV_2D 3x3 stride h1/w2 SAME RELU6 (per-channel, dim 0) ->
                           DEPTHWISE_CONV_2D 3x3/2 SAME RELU6 (per-channel, dim 3) ->
                           CONV_2D 1x1 -> ADD (fused RELU6) -> CONV_2D 1x1 RELU6 ->
                           AVERAGE_POOL_2D 5x4 VALID (global) -> SQUEEZE [1,2] ->
                           FULLY_CONNECTED (int8 per-tensor) -> DEQUANTIZE -> SOFTMAX (float)
                           -> QUANTIZE (float -> uint8 output)
    tiny_int8_in.tflite    the same network fed an int8 graph input directly (no QUANTIZE)
    tiny_q8.tflite         the same network all in int8 (int8 softmax): vigie keeps its int8 form
    bad_*.tflite           one refusal each (see REFUSALS below): MAX_POOL_2D, dilation 2,
                           depthwise channel multiplier 2, conv filter / input channel mismatch,
                           two subgraphs, MEAN over channels, RESHAPE flattening an image
    tflite_synth_expected.bin
                           VGFX fixture (tools/golden_common.py): for tiny_float and tiny_int8,
                           "<net>.input" (1,H,W,3) NHWC floats as vg_runner_forward receives
                           them (already normalised), "<net>.logits" and "<net>.output"
                           (1, n_classes) computed in float64 numpy from the weights as stored
                           (int8 weights dequantized: (q - zero) * scale); "tiny_int8.pixels"
                           (1,H,W,3) the uint8 pixels whose normalisation is tiny_int8.input.
Every .tflite is built as JSON and compiled by `flatc -b` against
../shared/reference/tflite_schema.fbs (which declares file_identifier "TFL3").
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import write_fixture  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SCHEMA = os.path.join(ROOT, "..", "shared", "reference", "tflite_schema.fbs")
OUT = os.path.join(ROOT, "tests", "fixtures")

# builtin operator codes (schema enum BuiltinOperator), for deprecated_builtin_code
OPCODES = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6,
           "FULLY_CONNECTED": 9, "MAX_POOL_2D": 17, "RESHAPE": 22, "SOFTMAX": 25, "MEAN": 40,
           "SQUEEZE": 43, "QUANTIZE": 114}

rng = np.random.default_rng(20261126)


def f32(x):
    """A Python float holding exactly the float32 value nearest x (what flatc will store)."""
    return float(np.float32(x))


# ---- TFLite JSON builder --------------------------------------------------------------------

class Builder:
    """Accumulates one subgraph as flatc JSON (enums by name, buffers as byte lists)."""

    def __init__(self):
        self.tensors, self.operators, self.opcodes = [], [], []
        self.buffers = [{}]  # buffer 0: the empty buffer every activation points to

    def tensor(self, name, shape, ttype, data=None, scale=None, zero=None, qdim=0):
        t = {"shape": list(shape), "type": ttype, "buffer": 0, "name": name}
        if data is not None:
            self.buffers.append({"data": list(data)})
            t["buffer"] = len(self.buffers) - 1
        if scale is not None:
            scale = np.atleast_1d(scale)
            zero = np.zeros(len(scale), np.int64) if zero is None else np.atleast_1d(zero)
            t["quantization"] = {"scale": [f32(s) for s in scale],
                                 "zero_point": [int(z) for z in zero],
                                 "quantized_dimension": qdim}
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name, array, ttype, **q):
        dtype = {"FLOAT32": "<f4", "INT32": "<i4", "INT8": "i1", "UINT8": "u1"}[ttype]
        a = np.ascontiguousarray(array, dtype=dtype)
        return self.tensor(name, a.shape, ttype, a.tobytes(), **q)

    def op(self, code, inputs, outputs, opt_type=None, **opts):
        if code not in self.opcodes:
            self.opcodes.append(code)
        o = {"opcode_index": self.opcodes.index(code), "inputs": inputs, "outputs": outputs}
        if opt_type:
            o["builtin_options_type"] = opt_type
            o["builtin_options"] = opts
        self.operators.append(o)
        return outputs[0]

    def model(self, inputs, outputs, n_subgraphs=1):
        sg = {"tensors": self.tensors, "inputs": inputs, "outputs": outputs,
              "operators": self.operators, "name": "main"}
        return {"version": 3,
                "operator_codes": [{"deprecated_builtin_code": min(OPCODES[c], 127),
                                    "builtin_code": c, "version": 1} for c in self.opcodes],
                "subgraphs": [sg] * n_subgraphs,
                "description": "vigie synthetic test model (tools/gen_tflite_fixtures.py)",
                "buffers": self.buffers}


def compile_tflite(model, name):
    """JSON -> flatbuffer with flatc; checks the TFL3 identifier; writes tests/fixtures/name."""
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "model.json")
        with open(js, "w") as f:
            json.dump(model, f)
        subprocess.run(["flatc", "-b", "-o", tmp, SCHEMA, js], check=True)
        # the schema's file_extension makes flatc name it model.tflite
        with open(os.path.join(tmp, "model.tflite"), "rb") as f:
            data = f.read()
    if data[4:8] != b"TFL3":
        sys.exit("flatc did not write the TFL3 file identifier for %s" % name)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), len(data)))


# ---- float64 reference of the TFLite ops (NHWC, batch 1: arrays are (H, W, C)) ---------------

def pad_amounts(n, k, s, padding):
    """Output size and (before, after) padding; TF SAME puts the odd pixel after."""
    if padding == "VALID":
        return (n - k) // s + 1, 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def act(x, a):
    if a == "RELU":
        return np.maximum(x, 0)
    if a == "RELU6":
        return np.clip(x, 0, 6)
    return x


def patches(x, kh, kw, sh, sw, padding):
    """(Ho, Wo, kh, kw, C) windows of x (H, W, C), zero padded."""
    h, w, c = x.shape
    ho, pt, pb = pad_amounts(h, kh, sh, padding)
    wo, pl, pr = pad_amounts(w, kw, sw, padding)
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    out = np.empty((ho, wo, kh, kw, c))
    for y in range(ho):
        for xx in range(wo):
            out[y, xx] = xp[y * sh:y * sh + kh, xx * sw:xx * sw + kw]
    return out


def conv(x, w, b, stride, padding, a):
    """w (Co, kh, kw, Ci), TFLite CONV_2D layout; stride (sh, sw)."""
    p = patches(x, w.shape[1], w.shape[2], stride[0], stride[1], padding)
    return act(np.einsum("yxijc,oijc->yxo", p, w) + b, a)


def dwconv(x, w, b, stride, padding, a):
    """w (1, kh, kw, C), TFLite DEPTHWISE_CONV_2D layout, multiplier 1."""
    p = patches(x, w.shape[1], w.shape[2], stride[0], stride[1], padding)
    return act(np.einsum("yxijc,ijc->yxc", p, w[0]) + b, a)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# ---- quantization helpers --------------------------------------------------------------------

def act_qparams(x):
    """Plausible asymmetric int8 (scale, zero) covering x and 0."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    s = f32(max(hi - lo, 1e-6) / 255.0)
    return s, int(np.clip(round(-128 - lo / s), -128, 127))


def quant_weights(w, axis):
    """Symmetric int8 per channel along `axis` (axis None: per tensor). Returns q, scales."""
    if axis is None:
        s = np.array([f32(np.abs(w).max() / 127.0)])
        return np.clip(np.round(w / s[0]), -127, 127).astype(np.int8), s
    red = tuple(d for d in range(w.ndim) if d != axis)
    s = np.array([f32(v) for v in np.abs(w).max(axis=red) / 127.0])
    shape = [1] * w.ndim
    shape[axis] = -1
    return np.clip(np.round(w / s.reshape(shape)), -127, 127).astype(np.int8), s


def quant_bias(b, in_scale, w_scales):
    """int32 bias with scale in_scale * w_scale (per channel or per tensor, like the weights),
    each scale rounded to float32 as stored."""
    s = np.array([f32(in_scale * ws) for ws in w_scales])  # one scale if per tensor
    return np.round(b / s).astype(np.int32), s


def he(shape, fan_in):
    return rng.standard_normal(shape) * (2.0 / fan_in) ** 0.5


def small(n):
    return rng.standard_normal(n) * 0.1


# ---- tiny_float ------------------------------------------------------------------------------

def tiny_float():
    H, W = 11, 9
    C1, C2, NCLS = 7, 11, 5
    p = {
        "stem.w": he((C1, 3, 3, 3), 27), "stem.b": small(C1),
        "dw.w": he((1, 3, 3, C1), 9), "dw.b": small(C1),
        "pw.w": he((C1, 1, 1, C1), C1), "pw.b": small(C1),
        "head.w": he((C2, 1, 1, C1), C1), "head.b": small(C2),
        "fc.w": rng.standard_normal((NCLS, C2)) * 0.5, "fc.b": small(NCLS),
    }
    p = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}  # as stored
    x = rng.uniform(-1, 1, (H, W, 3)).astype(np.float32).astype(np.float64)

    stem = conv(x, p["stem.w"], p["stem.b"], (2, 2), "SAME", "RELU6")
    d = dwconv(stem, p["dw.w"], p["dw.b"], (1, 1), "VALID", "RELU")
    pw = conv(d, p["pw.w"], p["pw.b"], (1, 1), "SAME", "NONE")
    res = act(pw + d, "RELU")
    head = conv(res, p["head.w"], p["head.b"], (1, 1), "SAME", "RELU6")
    mean = head.mean(axis=(0, 1))
    logits = p["fc.w"] @ mean + p["fc.b"]
    probs = softmax(logits)

    B = Builder()
    t_in = B.tensor("input", (1, H, W, 3), "FLOAT32")

    def fconst(name, key):
        return B.const(name, p[key], "FLOAT32")

    t = B.tensor("stem", (1,) + stem.shape, "FLOAT32")
    B.op("CONV_2D", [t_in, fconst("stem/w", "stem.w"), fconst("stem/b", "stem.b")], [t],
         "Conv2DOptions", padding="SAME", stride_w=2, stride_h=2,
         fused_activation_function="RELU6")
    t_d = B.tensor("dw", (1,) + d.shape, "FLOAT32")
    B.op("DEPTHWISE_CONV_2D", [t, fconst("dw/w", "dw.w"), fconst("dw/b", "dw.b")], [t_d],
         "DepthwiseConv2DOptions", padding="VALID", stride_w=1, stride_h=1, depth_multiplier=1,
         fused_activation_function="RELU")
    t_pw = B.tensor("pw", (1,) + pw.shape, "FLOAT32")
    B.op("CONV_2D", [t_d, fconst("pw/w", "pw.w"), fconst("pw/b", "pw.b")], [t_pw],
         "Conv2DOptions", padding="VALID", stride_w=1, stride_h=1)
    t_res = B.tensor("add", (1,) + res.shape, "FLOAT32")
    B.op("ADD", [t_pw, t_d], [t_res], "AddOptions", fused_activation_function="RELU")
    t_head = B.tensor("head", (1,) + head.shape, "FLOAT32")
    B.op("CONV_2D", [t_res, fconst("head/w", "head.w"), fconst("head/b", "head.b")], [t_head],
         "Conv2DOptions", padding="SAME", stride_w=1, stride_h=1,
         fused_activation_function="RELU6")
    t_mean = B.tensor("mean", (1, C2), "FLOAT32")
    B.op("MEAN", [t_head, B.const("mean/axes", [1, 2], "INT32")], [t_mean], "ReducerOptions",
         keep_dims=False)
    t_rs = B.tensor("reshape", (1, 1, 1, C2), "FLOAT32")
    B.op("RESHAPE", [t_mean, B.const("reshape/shape", [1, 1, 1, C2], "INT32")], [t_rs],
         "ReshapeOptions", new_shape=[1, 1, 1, C2])
    t_fc = B.tensor("logits", (1, NCLS), "FLOAT32")
    B.op("FULLY_CONNECTED", [t_rs, fconst("fc/w", "fc.w"), fconst("fc/b", "fc.b")], [t_fc],
         "FullyConnectedOptions")
    t_out = B.tensor("probs", (1, NCLS), "FLOAT32")
    B.op("SOFTMAX", [t_fc], [t_out], "SoftmaxOptions", beta=1.0)
    compile_tflite(B.model([t_in], [t_out]), "tiny_float.tflite")
    return [("tiny_float.input", x[None]), ("tiny_float.logits", logits[None]),
            ("tiny_float.output", probs[None])]


# ---- tiny_int8 / tiny_int8_in ----------------------------------------------------------------

IN_SCALE, IN_ZERO = 1.0 / 64.0, 120  # uint8 input: vigie mean 120, std 64 (exact in float)


def int8_net():
    """Float weights, calibrated activation ranges, int8 weights; returns everything needed to
    write both int8 files and the expected outputs (from the dequantized weights)."""
    H, W = 10, 13
    C1, C2, NCLS = 6, 13, 4
    raw = {
        "stem.w": he((C1, 3, 3, 3), 27), "stem.b": small(C1),
        "dw.w": he((1, 3, 3, C1), 9), "dw.b": small(C1),
        "pw.w": he((C1, 1, 1, C1), C1), "pw.b": small(C1),
        "head.w": he((C2, 1, 1, C1), C1), "head.b": small(C2),
        "fc.w": rng.standard_normal((NCLS, C2)) * 0.5, "fc.b": small(NCLS),
    }
    pixels = rng.integers(0, 256, (H, W, 3))
    x = (pixels - IN_ZERO) * IN_SCALE  # exact: what the int8 network sees after QUANTIZE

    def forward(p):
        a = {}
        a["stem"] = conv(x, p["stem.w"], p["stem.b"], (1, 2), "SAME", "RELU6")
        a["dw"] = dwconv(a["stem"], p["dw.w"], p["dw.b"], (2, 2), "SAME", "RELU6")
        a["pw"] = conv(a["dw"], p["pw.w"], p["pw.b"], (1, 1), "SAME", "NONE")
        a["add"] = act(a["pw"] + a["dw"], "RELU6")
        a["head"] = conv(a["add"], p["head.w"], p["head.b"], (1, 1), "SAME", "RELU6")
        a["pool"] = a["head"].mean(axis=(0, 1))
        a["logits"] = p["fc.w"] @ a["pool"] + p["fc.b"]
        a["probs"] = softmax(a["logits"])
        return a

    # calibration on the float weights gives the activation quantization, which sets the
    # bias scales (input scale x weight scale)
    cal = forward(raw)
    aq = {k: act_qparams(v) for k, v in cal.items()}
    aq["input"] = (IN_SCALE, IN_ZERO - 128)
    aq["probs"] = (1.0 / 256.0, -128)
    feeds = {"stem": "input", "dw": "stem", "pw": "dw", "head": "add", "fc": "pool"}
    axes = {"stem": 0, "dw": 3, "pw": 0, "head": 0, "fc": None}
    q, deq = {}, {}
    for layer, axis in axes.items():
        wq, ws = quant_weights(raw[layer + ".w"], axis)
        bq, bs = quant_bias(raw[layer + ".b"], aq[feeds[layer]][0], ws)
        q[layer] = (wq, ws, bq, bs, axis)
        shape = [1] * wq.ndim
        if axis is not None:
            shape[axis] = -1
        deq[layer + ".w"] = wq * ws.reshape(shape)
        deq[layer + ".b"] = bq * bs
    ref = forward(deq)
    return dict(H=H, W=W, C2=C2, NCLS=NCLS, pixels=pixels, x=x, q=q, aq=aq, ref=ref)


def write_int8(net, name, int8_input, int8_softmax=False):
    H, W, C2, NCLS, q, aq, ref = (net[k] for k in ("H", "W", "C2", "NCLS", "q", "aq", "ref"))
    B = Builder()

    def act_t(key, shape, qkey=None):
        s, z = aq[qkey or key]
        return B.tensor(key, shape, "INT8", scale=s, zero=z)

    def weights(layer):
        wq, ws, bq, bs, axis = q[layer]
        w = B.const(layer + "/w", wq, "INT8", scale=ws, zero=np.zeros(len(ws), np.int64),
                    qdim=axis or 0)
        b = B.const(layer + "/b", bq, "INT32", scale=bs, zero=np.zeros(len(bs), np.int64))
        return [w, b]

    if int8_input:
        t_in = t_q = B.tensor("input", (1, H, W, 3), "INT8", scale=IN_SCALE, zero=IN_ZERO - 128)
    else:
        t_in = B.tensor("input", (1, H, W, 3), "UINT8", scale=IN_SCALE, zero=IN_ZERO)
        t_q = act_t("input_int8", (1, H, W, 3), "input")
        B.op("QUANTIZE", [t_in], [t_q])
    t = act_t("stem", (1,) + ref["stem"].shape)
    B.op("CONV_2D", [t_q] + weights("stem"), [t], "Conv2DOptions", padding="SAME", stride_w=2,
         stride_h=1, fused_activation_function="RELU6")
    t_d = act_t("dw", (1,) + ref["dw"].shape)
    B.op("DEPTHWISE_CONV_2D", [t] + weights("dw"), [t_d], "DepthwiseConv2DOptions",
         padding="SAME", stride_w=2, stride_h=2, depth_multiplier=1,
         fused_activation_function="RELU6")
    t_pw = act_t("pw", (1,) + ref["pw"].shape)
    B.op("CONV_2D", [t_d] + weights("pw"), [t_pw], "Conv2DOptions", padding="SAME", stride_w=1,
         stride_h=1)
    t_add = act_t("add", (1,) + ref["add"].shape)
    B.op("ADD", [t_d, t_pw], [t_add], "AddOptions", fused_activation_function="RELU6")
    t_head = act_t("head", (1,) + ref["head"].shape)
    B.op("CONV_2D", [t_add] + weights("head"), [t_head], "Conv2DOptions", padding="SAME",
         stride_w=1, stride_h=1, fused_activation_function="RELU6")
    hh, hw = ref["head"].shape[:2]
    t_pool = act_t("pool", (1, 1, 1, C2))
    B.op("AVERAGE_POOL_2D", [t_head], [t_pool], "Pool2DOptions", padding="VALID", stride_w=1,
         stride_h=1, filter_width=hw, filter_height=hh)
    t_sq = act_t("squeeze", (1, C2), "pool")
    B.op("SQUEEZE", [t_pool], [t_sq], "SqueezeOptions", squeeze_dims=[1, 2])
    t_fc = act_t("logits", (1, NCLS))
    B.op("FULLY_CONNECTED", [t_sq] + weights("fc"), [t_fc], "FullyConnectedOptions")
    if int8_softmax:  # all integer, as TFLite's int8 converters write it
        t_sm8 = B.tensor("probs", (1, NCLS), "INT8", scale=1.0 / 256.0, zero=-128)
        B.op("SOFTMAX", [t_fc], [t_sm8], "SoftmaxOptions", beta=1.0)
        compile_tflite(B.model([t_in], [t_sm8]), name)
        return
    t_deq = B.tensor("logits_float", (1, NCLS), "FLOAT32")
    B.op("DEQUANTIZE", [t_fc], [t_deq])
    t_sm = B.tensor("probs_float", (1, NCLS), "FLOAT32")
    B.op("SOFTMAX", [t_deq], [t_sm], "SoftmaxOptions", beta=1.0)
    t_out = B.tensor("probs", (1, NCLS), "UINT8", scale=1.0 / 256.0, zero=0)
    B.op("QUANTIZE", [t_sm], [t_out])
    compile_tflite(B.model([t_in], [t_out]), name)


# ---- refusals --------------------------------------------------------------------------------

def refusal_base():
    """A float builder with an 8x8x3 input: returns the builder and its input tensor."""
    B = Builder()
    return B, B.tensor("input", (1, 8, 8, 3), "FLOAT32")


def fconv_weights(B, co, ci, k, dw=False):
    shape = (1, k, k, co) if dw else (co, k, k, ci)
    w = B.const("w", rng.standard_normal(shape).astype(np.float32), "FLOAT32")
    b = B.const("b", np.zeros(co, np.float32), "FLOAT32")
    return [w, b]


def bad_maxpool():
    B, t_in = refusal_base()
    t = B.tensor("pool", (1, 4, 4, 3), "FLOAT32")
    B.op("MAX_POOL_2D", [t_in], [t], "Pool2DOptions", padding="VALID", stride_w=2, stride_h=2,
         filter_width=2, filter_height=2)
    return B.model([t_in], [t])


def bad_dilation():
    B, t_in = refusal_base()
    t = B.tensor("conv", (1, 8, 8, 4), "FLOAT32")
    B.op("CONV_2D", [t_in] + fconv_weights(B, 4, 3, 3), [t], "Conv2DOptions", padding="SAME",
         stride_w=1, stride_h=1, dilation_w_factor=2, dilation_h_factor=2)
    return B.model([t_in], [t])


def bad_multiplier():
    """Depthwise with channel multiplier 2: filter (1, 3, 3, 6) on 3 input channels."""
    B, t_in = refusal_base()
    t = B.tensor("dw", (1, 8, 8, 6), "FLOAT32")
    B.op("DEPTHWISE_CONV_2D", [t_in] + fconv_weights(B, 6, 3, 3, dw=True), [t],
         "DepthwiseConv2DOptions", padding="SAME", stride_w=1, stride_h=1, depth_multiplier=2)
    return B.model([t_in], [t])


def bad_conv_channels():
    """A filter for 5 input channels on the 3-channel input, followed by a valid layer. Before
    the importer checked filters against their input, this imported silently with its weights
    read in the wrong layout."""
    B, t_in = refusal_base()
    t1 = B.tensor("conv1", (1, 8, 8, 4), "FLOAT32")
    B.op("CONV_2D", [t_in] + fconv_weights(B, 4, 5, 3), [t1], "Conv2DOptions", padding="SAME",
         stride_w=1, stride_h=1)
    t2 = B.tensor("conv2", (1, 8, 8, 4), "FLOAT32")
    B.op("CONV_2D", [t1] + fconv_weights(B, 4, 4, 1), [t2], "Conv2DOptions", padding="SAME",
         stride_w=1, stride_h=1)
    return B.model([t_in], [t2])


def bad_two_subgraphs():
    B, t_in = refusal_base()
    t = B.tensor("conv", (1, 8, 8, 4), "FLOAT32")
    B.op("CONV_2D", [t_in] + fconv_weights(B, 4, 3, 1), [t], "Conv2DOptions", padding="SAME",
         stride_w=1, stride_h=1)
    return B.model([t_in], [t], n_subgraphs=2)


def bad_mean_axes():
    """MEAN over the channels instead of the spatial axes."""
    B, t_in = refusal_base()
    t = B.tensor("mean", (1, 8, 8), "FLOAT32")
    B.op("MEAN", [t_in, B.const("axes", [3], "INT32")], [t], "ReducerOptions", keep_dims=False)
    return B.model([t_in], [t])


def bad_reshape_spatial():
    """RESHAPE that flattens an image: vigie keeps (h, w, c) and cannot alias it."""
    B, t_in = refusal_base()
    t = B.tensor("flat", (1, 192), "FLOAT32")
    B.op("RESHAPE", [t_in, B.const("shape", [1, 192], "INT32")], [t], "ReshapeOptions",
         new_shape=[1, 192])
    return B.model([t_in], [t])


# name -> builder; tests/test_tflite_synth.c checks the status and a word of each message
REFUSALS = {
    "bad_maxpool.tflite": bad_maxpool,
    "bad_dilation.tflite": bad_dilation,
    "bad_multiplier.tflite": bad_multiplier,
    "bad_conv_channels.tflite": bad_conv_channels,
    "bad_two_subgraphs.tflite": bad_two_subgraphs,
    "bad_mean_axes.tflite": bad_mean_axes,
    "bad_reshape_spatial.tflite": bad_reshape_spatial,
}


def main():
    if not shutil.which("flatc"):
        sys.exit("flatc not found (Debian package flatbuffers-compiler)")
    if not os.path.exists(SCHEMA):
        sys.exit("schema not found: %s" % SCHEMA)
    os.makedirs(OUT, exist_ok=True)
    tensors = tiny_float()
    net = int8_net()
    write_int8(net, "tiny_int8.tflite", int8_input=False)
    write_int8(net, "tiny_int8_in.tflite", int8_input=True)
    write_int8(net, "tiny_q8.tflite", int8_input=False, int8_softmax=True)
    ref = net["ref"]
    tensors += [("tiny_int8.pixels", net["pixels"][None].astype(np.float64)),
                ("tiny_int8.input", net["x"][None]), ("tiny_int8.logits", ref["logits"][None]),
                ("tiny_int8.output", ref["probs"][None])]
    for name, build in REFUSALS.items():
        compile_tflite(build(), name)
    path = os.path.join(OUT, "tflite_synth_expected.bin")
    write_fixture(path, [(k, torch.from_numpy(np.ascontiguousarray(v))) for k, v in tensors])
    print("wrote tests/fixtures/tflite_synth_expected.bin: float probs %s, int8 probs %s" %
          (np.round(tensors[2][1][0], 4).tolist(), np.round(ref["probs"], 4).tolist()))


if __name__ == "__main__":
    main()
