#!/usr/bin/python3
"""onnx_qdq.py — an int8 engine exported as QDQ ONNX, run by an evaluator written from the ONNX
operator specification, against vigie's integer kernels on the very same inputs.

    /usr/bin/python3 bench/onnx_qdq.py [ENGINE.vge] [--limit N]   (default models/fire.vge)

Debian 12 packages no ONNX runtime that runs QDQ models (no onnxruntime; onnx 1.12 has no
reference evaluator; OpenCV 4.6 DNN refuses a DequantizeLinear of constant weights), so this
script evaluates the file itself, operator by operator as the ONNX specification defines them:
QuantizeLinear (x / scale in float32, rounded half to even, + zero point, saturated),
DequantizeLinear (per tensor or per channel along `axis`), Conv (float64 sums, rounded once to
float32: what an exact float32 runtime computes), Gemm, Relu, Clip, Add, GlobalAveragePool,
Flatten, Softmax. It does not use vigie's code. The evaluator is first checked on the engine's
float view (vigie export without --qdq) against vigie in float.

The images of the shared test lists are decoded and resized by numpy with vigie's rule
(bench/onnx_opencv.py); both sides get exactly the same float tensors: vigie through
build/qdq_run (the public API, compiled here). Prints, for the QDQ model against vigie int8:
top-1 agreement, the largest probability difference, on how many images the integer logits
are identical (their differences recovered from vigie's probabilities and the logits' scale),
and, layer by layer, how many int8 outputs of the convolutions and fully-connected layers equal
the exact integer requantization of the same input codes (the float32 tensors of a QDQ graph
round a value that falls within float error of a half either way; one such flip then travels
on through the later layers).
Needs python3-onnx, python3-opencv, python3-numpy; a developer check, not part of the tests.
"""
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_opencv import ROOT, VIGIE, axis, test_images  # noqa: E402


def conv(x, w, b, attrs):
    """ONNX Conv, NCHW, in float64, rounded once to float32"""
    y = conv64(x.astype(np.float64), w.astype(np.float64), attrs)
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y.astype(np.float32)


def conv64(x, w, attrs):
    """the sums of ONNX Conv in float64 (exact for integer codes)"""
    kh, kw = w.shape[2], w.shape[3]
    st = attrs.get("strides", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    group = attrs.get("group", 1)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::st[0], ::st[1]]
    if group == 1:
        return np.einsum("nchwij,ocij->nohw", cols, w, optimize=True)
    if group == x.shape[1] and w.shape[0] == group and w.shape[1] == 1:
        return np.einsum("nchwij,cij->nchw", cols, w[:, 0], optimize=True)
    raise SystemExit("grouped convolution: not in this evaluator")


def per_axis(v, ref, ax):
    """a scale or zero point of DequantizeLinear shaped to broadcast along axis"""
    if v.ndim == 0:
        return v
    shape = [1] * ref.ndim
    shape[ax] = v.shape[0]
    return v.reshape(shape)


def run(model, x):
    """evaluates the graph on x (N, C, H, W) float32; returns the output and the values"""
    g = model.graph
    vals = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    vals[g.input[0].name] = x
    for n in g.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [vals[k] if k else None for k in n.input]
        op = n.op_type
        if op == "QuantizeLinear":
            s, z = i[1].astype(np.float32), i[2]
            q = np.rint(i[0].astype(np.float32) / s) + z.astype(np.float32)
            y = np.clip(q, -128, 127).astype(np.int8)
        elif op == "DequantizeLinear":
            ax = a.get("axis", 1)
            s, z = per_axis(i[1], i[0], ax), per_axis(i[2], i[0], ax)
            y = ((i[0].astype(np.int64) - z.astype(np.int64)).astype(np.float32) * s).astype(np.float32)
        elif op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Gemm":
            wt = i[1].T if a.get("transB", 0) else i[1]
            y = (i[0].astype(np.float64) @ wt.astype(np.float64) + i[2].astype(np.float64)).astype(np.float32)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            lo = a["min"] if "min" in a else i[1]
            hi = a["max"] if "max" in a else i[2]
            y = np.clip(i[0], lo, hi).astype(np.float32)
        elif op == "Add":
            y = (i[0] + i[1]).astype(np.float32)
        elif op == "GlobalAveragePool":
            y = i[0].astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
        elif op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Softmax":
            e = np.exp(i[0].astype(np.float64) - i[0].max(axis=1, keepdims=True))
            y = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        else:
            raise SystemExit("operator %s: not in this evaluator" % op)
        vals[n.output[0]] = y
    return vals[g.output[0].name], vals


def layer_agreement(model, vals):
    """For each Conv and Gemm of the QDQ model: the int8 codes its QuantizeLinear produced,
    against the exact integer result from the same input codes (int8 x int8 sums exact in
    float64, plus the int32 bias, times input scale x weight scale / output scale, rounded,
    clamped to the activation's range). Returns (values, differing, differing within 1e-4 of
    a half before rounding)."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {n.output[0]: n for n in model.graph.node}
    readers = {}
    for n in model.graph.node:
        for k in n.input:
            readers.setdefault(k, []).append(n)
    total = differ = near = 0
    for n in model.graph.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        dx, dw, db = (producer[k] for k in n.input[:3])
        while dx.op_type == "Flatten":  # a Gemm reads the flattened codes
            dx = producer[dx.input[0]]
        qx = vals[dx.input[0]].astype(np.float64) - float(inits[dx.input[2]])
        if n.op_type == "Gemm":
            qx = qx.reshape(qx.shape[0], -1)
        sx = float(inits[dx.input[1]])
        qw = inits[dw.input[0]].astype(np.float64)
        sw = inits[dw.input[1]].astype(np.float64)
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        if n.op_type == "Conv":
            acc = conv64(qx, qw, a) + inits[db.input[0]][None, :, None, None]
            sw = sw[None, :, None, None]
        else:
            acc = qx @ qw.T + inits[db.input[0]][None, :]
        act = readers[n.output[0]][0]
        qn = readers[act.output[0]][0] if act.op_type in ("Relu", "Clip") else act
        so, zo = float(inits[qn.input[1]]), int(inits[qn.input[2]])
        lo, hi = -128, 127
        if act.op_type in ("Relu", "Clip"):
            lo = max(lo, zo)
        if act.op_type == "Clip":
            hi = min(hi, zo + int(np.floor(6.0 / so + 0.5)))
        v = acc * sx * sw / so
        exact = np.clip(np.floor(v + 0.5) + zo, lo, hi)
        got = vals[qn.output[0]].astype(np.float64)
        d = exact != got
        total += exact.size
        differ += int(d.sum())
        near += int((np.abs(v[d] - np.floor(v[d]) - 0.5) < 1e-4).sum())
    return total, differ, near


def preprocess(path, w, h, mean, std):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    rgb = bgr[:, :, ::-1].astype(np.float64)
    ry, rx = axis(rgb.shape[0], h), axis(rgb.shape[1], w)
    rows = (ry @ rgb.reshape(rgb.shape[0], -1)).reshape(h, rgb.shape[1], 3)
    img = np.einsum("ysc,xs->yxc", rows, rx, optimize=True)
    return ((img - mean) / std).astype(np.float32)  # (H, W, C)


def vigie_probs(model, precision, xs, tmp):
    exe = os.path.join(ROOT, "build", "qdq_run")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-std=c11", "-O2", "-I" + os.path.join(ROOT, "include"),
                        os.path.join(ROOT, "bench", "qdq_run.c"), os.path.join(ROOT, "build", "libvigie.a"),
                        "-ljpeg", "-lpng", "-lz", "-lm", "-lprotobuf-c", "-pthread", "-o", exe], check=True)
    fin, fout = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    np.ascontiguousarray(xs, np.float32).tofile(fin)
    subprocess.run([exe, model, precision, fin, str(len(xs)), fout], check=True)
    return np.fromfile(fout, np.float32).reshape(len(xs), -1)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    limit = None
    if "--limit" in sys.argv:
        limit = int(sys.argv[sys.argv.index("--limit") + 1])
        args = [a for a in args if a != str(limit)]
    engine = args[0] if args else os.path.join(ROOT, "models", "fire.vge")
    tmp = tempfile.mkdtemp()
    qdq_path, flt_path = os.path.join(tmp, "qdq.onnx"), os.path.join(tmp, "float.onnx")
    subprocess.run([VIGIE, "export", engine, "-o", qdq_path, "--qdq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([VIGIE, "export", engine, "-o", flt_path], check=True, stdout=subprocess.DEVNULL)
    info = json.loads(subprocess.run([VIGIE, "info", engine, "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    inp = info["input"]
    w, h = inp["w"], inp["h"]
    mean, std = np.array(inp["mean"], np.float64), np.array(inp["std"], np.float64)
    images = test_images()[:limit]
    xs = np.stack([preprocess(p, w, h, mean, std) for p in images])  # (N, H, W, C)
    qdq, flt = onnx.load(qdq_path), onnx.load(flt_path)
    # the logits' scale: the QuantizeLinear feeding the final Softmax's DequantizeLinear
    producer = {n.output[0]: n for n in qdq.graph.node}
    sm = [n for n in qdq.graph.node if n.op_type == "Softmax"][0]
    dq = producer[sm.input[0]]
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    s_logit = float(inits[dq.input[1]])
    vq, vf = vigie_probs(engine, "int8", xs, tmp), vigie_probs(engine, "float", xs, tmp)
    rows = {"float view vs vigie float": (flt, vf), "QDQ vs vigie int8": (qdq, vq)}
    for what, (model, ref) in rows.items():
        agree, worst, same, lt, ld, ln = 0, 0.0, 0, 0, 0, 0
        for k in range(0, len(xs), 8):
            x = xs[k:k + 8].transpose(0, 3, 1, 2)
            p, vals = run(model, np.ascontiguousarray(x))
            r = ref[k:k + 8]
            agree += int((p.argmax(1) == r.argmax(1)).sum())
            worst = max(worst, float(np.abs(p - r).max()))
            if model is qdq:
                codes = vals[dq.input[0]].astype(np.int64)  # the QDQ model's int8 logits
                d_onnx = codes - codes[:, :1]
                d_vigie = np.rint(np.log(np.maximum(r, 1e-30) / np.maximum(r[:, :1], 1e-30)) / s_logit)
                same += int((d_onnx == d_vigie).all(axis=1).sum())
                if k < 32:
                    t, d, near = layer_agreement(model, vals)
                    lt, ld, ln = lt + t, ld + d, ln + near
        n = len(xs)
        extra = (", integer logits identical on %d / %d; layer by layer (first %d images), the "
                 "int8 outputs of its convolutions and fully-connected layers equal the exact "
                 "integer requantization of the same input codes on %d of %d values (%d differ, "
                 "%d of them within 1e-4 of a half)"
                 % (same, n, min(n, 32), lt - ld, lt, ld, ln)) if model is qdq else ""
        print("%s (%s, %d shared test images): top-1 agreement %d / %d, largest probability "
              "difference %.2g%s" % (what, os.path.basename(engine), n, agree, n, worst, extra))


if __name__ == "__main__":
    main()
