#!/usr/bin/python3
"""onnx_opencv.py — a vigie model exported to ONNX, run by OpenCV DNN, against vigie itself.

    /usr/bin/python3 bench/onnx_opencv.py [MODEL]     (default out/model/fire.vgm: make model's)

`vigie export` writes the ONNX file; every image of the shared test lists (firesmoke-cctv,
fire-footage, neutral-scenes) is classified by `vigie predict` (float) and by OpenCV DNN
(readNetFromONNX) on the same input: decoded by OpenCV (libjpeg-turbo, as vigie), resized with
vigie's rule (half-pixel bilinear, exact area averages from 3x shrinking, in float) and
normalised with the mean and std the file's metadata gives. Prints the top-1 agreement and the
largest probability difference. Needs Debian's python3-opencv and python3-numpy; a developer
check, not part of the tests.
"""
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VIGIE = os.environ.get("VIGIE", os.path.join(ROOT, "build", "vigie"))
SHARED = os.environ.get("VIGIE_SHARED", os.path.join(ROOT, "..", "shared"))


def axis(src, dst):
    """vigie's taps of one axis (src/ops/resize.c) as a dst x src matrix"""
    r = np.zeros((dst, src))
    if src >= 3 * dst:  # exact area averages
        for i in range(dst):
            lo, hi = i * src, (i + 1) * src
            for s in range(lo // dst, (hi + dst - 1) // dst):
                a0, a1 = s * dst, (s + 1) * dst
                r[i, s] = (min(a1, hi) - max(a0, lo)) / src
    else:  # half-pixel bilinear, clamped
        for i in range(dst):
            x = max((i + 0.5) * src / dst - 0.5, 0.0)
            x0 = int(x)
            f = x - x0
            if x0 >= src - 1:
                x0, f = src - 1, 0.0
            r[i, x0] += 1 - f
            if f > 0:
                r[i, x0 + 1] += f
    return r


def test_images():
    d = os.path.join(SHARED, "data")
    out = []
    for ds in ("firesmoke-cctv", "neutral-scenes"):
        with open(os.path.join(d, ds, "splits", "test.txt")) as f:
            out += [os.path.join(d, ds, line.strip()) for line in f if line.strip()]
    imgs = os.path.join(d, "fire-footage", "test", "images")
    out += [os.path.join(imgs, n) for n in sorted(os.listdir(imgs))]
    return out


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "out", "model", "fire.vgm")
    tmp = tempfile.mkdtemp()
    onnx_path = os.path.join(tmp, "model.onnx")
    # opset 10: OpenCV 4.6 (Debian 12) reads ReLU6 (Clip) bounds only as attributes
    subprocess.run([VIGIE, "export", model, "-o", onnx_path, "--opset", "10"], check=True,
                   stdout=subprocess.DEVNULL)
    info = json.loads(subprocess.run([VIGIE, "info", model, "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    inp = info["input"]
    w, h = inp["w"], inp["h"]
    mean, std = np.array(inp["mean"], np.float64), np.array(inp["std"], np.float64)
    net = cv2.dnn.readNetFromONNX(onnx_path)
    images = test_images()
    agree, worst, n = 0, 0.0, 0
    for k in range(0, len(images), 64):
        chunk = images[k:k + 64]
        out = subprocess.run([VIGIE, "predict", model, *chunk, "--json", "--top", "99",
                              "--precision", "float"], check=True, capture_output=True, text=True).stdout
        for line, path in zip(out.splitlines(), chunk):
            rec = json.loads(line)
            labels = [t["label"] for t in rec["top"]]
            pv = {t["label"]: t["p"] for t in rec["top"]}
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            rgb = bgr[:, :, ::-1].astype(np.float64)
            ry, rx = axis(rgb.shape[0], h), axis(rgb.shape[1], w)
            rows = (ry @ rgb.reshape(rgb.shape[0], -1)).reshape(h, rgb.shape[1], 3)
            img = np.einsum("ysc,xs->yxc", rows, rx, optimize=True)
            x = ((img - mean) / std).astype(np.float32).transpose(2, 0, 1)[None]
            net.setInput(x)
            p = net.forward().flatten()
            names = info["labels"]
            top = names[int(np.argmax(p))]
            agree += top == labels[0]
            worst = max(worst, max(abs(float(p[i]) - pv[names[i]]) for i in range(len(names))))
            n += 1
    print("%s exported to ONNX, OpenCV %s DNN vs vigie (float), %d test images: top-1 agreement %d / %d, "
          "largest probability difference %.2g" % (os.path.basename(model), cv2.__version__, n, agree, n, worst))


if __name__ == "__main__":
    main()
