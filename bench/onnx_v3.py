#!/usr/bin/python3
"""onnx_v3.py — torchvision's MobileNetV3 (small and large, 224 x 224, random weights: timing
and agreement, not accuracy) from PyTorch into vigie through ONNX, side by side with the
frameworks a user would otherwise run it in, on 1 thread.

    /usr/bin/python3 bench/onnx_v3.py

For each network: PyTorch's opset-13 export imported by `vigie import`; vigie's outputs on a
random input against PyTorch's (largest relative difference); the median latency of PyTorch
eager and TorchScript (script + freeze + optimize_for_inference, oneDNN) with
torch.set_num_threads(1), of OpenCV DNN (on vigie's --opset 10 export of the same
network: OpenCV 4.6 refuses PyTorch's own file, an Identity of a weight), and of `vigie bench
--threads 1`; OpenCV 4.6 (Debian 12's) fails on both files here, which the script reports.
Needs Debian's python3-torch, python3-torchvision, python3-opencv; a developer
benchmark, not part of the tests.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import cv2
import numpy as np
import torch
import torchvision

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_opencv import ROOT, VIGIE  # noqa: E402
from onnx_qdq import vigie_probs  # noqa: E402


def median_ms(fn, runs=30, warmup=5):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * sorted(ts)[len(ts) // 2]


def main():
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    tmp = tempfile.mkdtemp()
    print("%-20s %11s %11s %11s %11s %11s" % ("network", "vs PyTorch", "eager ms", "script ms",
                                               "OpenCV ms", "vigie ms"))
    for name in ("mobilenet_v3_small", "mobilenet_v3_large"):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)().eval()
        x = torch.randn(1, 3, 224, 224)
        onnx_path, vgm = os.path.join(tmp, name + ".onnx"), os.path.join(tmp, name + ".vgm")
        torch.onnx.export(model, x, onnx_path, opset_version=13, input_names=["input"],
                          output_names=["logits"])
        subprocess.run([VIGIE, "import", onnx_path, "-o", vgm], check=True, stdout=subprocess.DEVNULL)
        with torch.inference_mode():
            ref = model(x).numpy()
            t_torch = median_ms(lambda: model(x))
            sm = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
            t_ts = median_ms(lambda: sm(x))
        got = vigie_probs(vgm, "float", x.numpy().transpose(0, 2, 3, 1), tmp)  # the logits
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        cv_path = os.path.join(tmp, name + "_cv.onnx")
        subprocess.run([VIGIE, "export", vgm, "-o", cv_path, "--opset", "10"], check=True,
                       stdout=subprocess.DEVNULL)
        xn = x.numpy()
        try:
            net = cv2.dnn.readNetFromONNX(cv_path)

            def cv_run():
                net.setInput(xn)
                return net.forward()

            t_cv = median_ms(cv_run)
            cv_note = "OpenCV's outputs vs PyTorch's: %.1e" % float(np.abs(cv_run() - ref).max() / np.abs(ref).max())
        except cv2.error as e:
            where = [ln for ln in str(e).splitlines() if "error:" in ln][:1]
            t_cv, cv_note = float("nan"), "OpenCV fails: %s" % (where[0].strip()[:110] if where else "?")
        b = json.loads(subprocess.run([VIGIE, "bench", vgm, "--threads", "1", "--json"], check=True,
                                      capture_output=True, text=True).stdout)
        print("%-20s %11.1e %11.2f %11.2f %11.2f %11.2f   (%s)"
              % (name, rel, t_torch, t_ts, t_cv, b["median_ms"], cv_note))
    print("torch %s, OpenCV %s, 1 thread" % (torch.__version__, cv2.__version__))


if __name__ == "__main__":
    main()
