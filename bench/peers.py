"""peers.py — times the frameworks a user would otherwise pick for MobileNetV2 1.0 at 224x224,
one measurement per process, so that the peak RSS (getrusage ru_maxrss) belongs to one peer.

Driven by bench/compare; run by hand as
    /usr/bin/python3 bench/peers.py info
    /usr/bin/python3 bench/peers.py export-onnx OUT.onnx
    /usr/bin/python3 bench/peers.py run PEER --threads N --runs N [--warmup N] [--onnx FILE]
PEER is one of: eager, torchscript, int8, opencv, ort, train.

`run` prints one JSON object on stdout (the record bench/report.py reads). A peer that cannot
run here (a module missing, an export the loader refuses) exits with status 3 after printing
"SKIP: reason" on stderr; any other failure is a crash with its traceback.

Not a correctness check: weights are random (timing only), and the ONNX export is not compared
with PyTorch. The network is torchvision's mobilenet_v2 (1000 classes) when python3-torchvision
is installed, else the hand-written one below (the same architecture); the vigie model is the
TF-slim one with 1001 classes, a difference of one row of the last matrix.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings

SKIP = 3
warnings.filterwarnings("ignore")


def skip(reason):
    print("SKIP: " + reason, file=sys.stderr)
    sys.exit(SKIP)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def percentile(sorted_ms, q):
    """Nearest-rank percentile, the same rule as `vigie bench`."""
    k = int(q * len(sorted_ms) + 0.999999) - 1
    return sorted_ms[min(max(k, 0), len(sorted_ms) - 1)]


def time_runs(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    t.sort()
    return t


def record(args, engine, precision, mode, batch, t, notes=""):
    med = percentile(t, 0.5)
    return {
        "engine": engine,
        "precision": precision,
        "mode": mode,
        "threads": args.threads,
        "batch": batch,
        "median_ms": round(med, 3),
        "p90_ms": round(percentile(t, 0.9), 3),
        "min_ms": round(t[0], 3),
        "images_per_s": round(1e3 * batch / med, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "runs": len(t),
        "warmup": args.warmup,
        "notes": notes,
    }


# ---- the network ---------------------------------------------------------------------------


def import_torch():
    try:
        import torch
    except ImportError as e:
        skip("PyTorch not importable (%s): install python3-torch" % e)
    return torch


def make_hand_mobilenet_v2(quantizable):
    """MobileNetV2 1.0 as in Sandler et al. 2018 (torchvision's layout): a 3x3 stride-2 stem of 32
    channels, 17 inverted residual blocks (expansion t=6 except the first, channel plan
    16-24-32-64-96-160-320), a 1x1 conv to 1280, global average pooling, a 1000-way classifier.
    With quantizable=True: ReLU instead of ReLU6 (so conv-bn-relu can be fused, as torchvision's
    quantizable variant does), QuantStub/DeQuantStub around the body, FloatFunctional for the
    residual add, and a fuse_model() method."""
    import torch
    from torch import nn

    act = nn.ReLU if quantizable else nn.ReLU6

    def conv_bn(cin, cout, k, stride, groups=1, relu=True):
        layers = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(act(inplace=True))
        return nn.Sequential(*layers)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hidden = cin * t
            self.use_res = stride == 1 and cin == cout
            layers = [conv_bn(cin, hidden, 1, 1)] if t != 1 else []
            layers += [
                conv_bn(hidden, hidden, 3, stride, groups=hidden),
                conv_bn(hidden, cout, 1, 1, relu=False),
            ]
            self.conv = nn.Sequential(*layers)
            self.add = torch.nn.quantized.FloatFunctional()

        def forward(self, x):
            if self.use_res:
                return self.add.add(x, self.conv(x))
            return self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            plan = [  # t, c, n, s
                (1, 16, 1, 1),
                (6, 24, 2, 2),
                (6, 32, 3, 2),
                (6, 64, 4, 2),
                (6, 96, 3, 1),
                (6, 160, 3, 2),
                (6, 320, 1, 1),
            ]
            layers = [conv_bn(3, 32, 3, 2)]
            cin = 32
            for t, c, n, s in plan:
                for i in range(n):
                    layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            layers.append(conv_bn(cin, 1280, 1, 1))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
            self.quant = torch.quantization.QuantStub()
            self.dequant = torch.quantization.DeQuantStub()
            self.quantizable = quantizable

        def forward(self, x):
            if self.quantizable:
                x = self.quant(x)
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
            x = self.classifier(x)
            if self.quantizable:
                x = self.dequant(x)
            return x

        def fuse_model(self):
            # the conv_bn blocks: exactly nn.Sequential (fused modules subclass it), conv first
            blocks = [
                m
                for m in self.modules()
                if type(m) is nn.Sequential and len(m) >= 2 and isinstance(m[0], nn.Conv2d)
            ]
            for m in blocks:
                names = ["0", "1", "2"] if len(m) == 3 else ["0", "1"]
                torch.quantization.fuse_modules(m, names, inplace=True)

    return MobileNetV2()


def randomize_batchnorm(model):
    """Gives every batch-norm layer distinct random statistics and affine parameters. Freshly
    initialised ones are all identical (mean 0, var 1, gamma 1, beta 0), so the ONNX exporter
    folds them into equal biases, deduplicates those into Identity nodes, and OpenCV 4.6's
    importer refuses Identity on an initializer; trained weights never look like that."""
    import torch

    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.1 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(n, generator=g))
    return model


def make_model(args, quantizable=False):
    """Returns (model, description): random weights, random batch-norm statistics."""
    model, desc = make_network(args, quantizable)
    return randomize_batchnorm(model), desc


def make_network(args, quantizable):
    if args.model != "hand":
        try:
            if quantizable:
                from torchvision.models.quantization import mobilenet_v2

                return mobilenet_v2(weights=None, quantize=False), "torchvision quantizable"
            from torchvision.models import mobilenet_v2

            return mobilenet_v2(weights=None), "torchvision"
        except ImportError:
            if args.model == "torchvision":
                skip("torchvision not importable: install python3-torchvision")
    return make_hand_mobilenet_v2(quantizable), "hand-written"


def set_torch_threads(torch, n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set: only possible once per process


# ---- peers ---------------------------------------------------------------------------------


def peer_eager(args):
    torch = import_torch()
    set_torch_threads(torch, args.threads)
    torch.manual_seed(0)
    model, desc = make_model(args)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        t = time_runs(lambda: model(x), args.runs, args.warmup)
    return record(args, "pytorch eager", "fp32", "infer", 1, t, desc)


def peer_torchscript(args):
    torch = import_torch()
    set_torch_threads(torch, args.threads)
    torch.manual_seed(0)
    model, desc = make_model(args)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        try:
            sm = torch.jit.script(model)
            how = "script"
        except Exception:  # noqa: BLE001 — scripting is best effort, tracing is the fallback
            sm = torch.jit.trace(model, x)
            how = "trace"
        sm = torch.jit.freeze(sm)
        sm = torch.jit.optimize_for_inference(sm)
        mkldnn = "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN"
        t = time_runs(lambda: sm(x), args.runs, args.warmup)
    return record(
        args,
        "pytorch torchscript",
        "fp32",
        "infer",
        1,
        t,
        "%s, jit.%s + freeze + optimize_for_inference, %s" % (desc, how, mkldnn),
    )


def pick_qengine(torch, wanted):
    engines = torch.backends.quantized.supported_engines
    if wanted:
        if wanted not in engines:
            skip("quantized engine %s not in this PyTorch (has %s)" % (wanted, ", ".join(engines)))
        return wanted
    for e in ("x86", "fbgemm", "onednn", "qnnpack"):
        if e in engines:
            return e
    skip("no quantized engine in this PyTorch (has %s)" % ", ".join(engines))


def peer_int8(args):
    torch = import_torch()
    set_torch_threads(torch, args.threads)
    torch.manual_seed(0)
    engine = pick_qengine(torch, args.qengine)
    torch.backends.quantized.engine = engine
    model, desc = make_model(args, quantizable=True)
    model.eval()
    model.fuse_model()
    model.qconfig = torch.quantization.get_default_qconfig(engine)
    torch.quantization.prepare(model, inplace=True)
    with torch.inference_mode():
        for _ in range(8):  # calibration on random inputs: timing only, accuracy is meaningless
            model(torch.randn(1, 3, 224, 224))
    torch.quantization.convert(model, inplace=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        t = time_runs(lambda: model(x), args.runs, args.warmup)
    return record(
        args,
        "pytorch int8",
        "int8",
        "infer",
        1,
        t,
        "%s, static PTQ, qengine %s" % (desc, engine),
    )


def export_onnx(args):
    """Opset 10, where Clip (ReLU6) takes its bounds as attributes: OpenCV 4.6 (Debian bookworm)
    refuses the opset >= 11 form, whose bounds are inputs. ONNX Runtime reads either."""
    torch = import_torch()
    torch.manual_seed(0)
    model, desc = make_model(args)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    try:
        torch.onnx.export(
            model,
            x,
            args.out,
            opset_version=10,
            input_names=["input"],
            output_names=["logits"],
            do_constant_folding=True,
        )
    except Exception as e:  # noqa: BLE001 — any export failure means the ONNX peers are skipped
        skip("torch.onnx.export failed: %s" % str(e).splitlines()[0])
    print(json.dumps({"onnx": args.out, "model": desc, "bytes": os.path.getsize(args.out)}))


def peer_opencv(args):
    try:
        import cv2
        import numpy as np
    except ImportError as e:
        skip("OpenCV not importable (%s): install python3-opencv" % e)
    if not args.onnx or not os.path.exists(args.onnx):
        skip("no ONNX export to load")
    cv2.setNumThreads(args.threads)
    try:
        net = cv2.dnn.readNetFromONNX(args.onnx)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)

        def fwd():
            net.setInput(x)
            return net.forward()

        fwd()
    except cv2.error as e:
        skip("OpenCV DNN could not load/run the ONNX export: %s" % str(e).strip().splitlines()[-1])
    t = time_runs(fwd, args.runs, args.warmup)
    notes = "ONNX opset 10 export, DNN_BACKEND_OPENCV"
    return record(args, "opencv dnn", "fp32", "infer", 1, t, notes)


def peer_ort(args):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        skip("ONNX Runtime not importable (%s)" % e)
    if not args.onnx or not os.path.exists(args.onnx):
        skip("no ONNX export to load")
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    name = sess.get_inputs()[0].name
    t = time_runs(lambda: sess.run(None, {name: x}), args.runs, args.warmup)
    return record(args, "onnxruntime", "fp32", "infer", 1, t, "ONNX opset 10 export, CPU provider")


def peer_train(args):
    """Full fine-tuning throughput: every parameter trained, train mode (batch-norm statistics
    updated), SGD with momentum, cross-entropy on random images and labels."""
    torch = import_torch()
    set_torch_threads(torch, args.threads)
    torch.manual_seed(0)
    model, desc = make_model(args)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=4e-5)
    loss_fn = torch.nn.CrossEntropyLoss()
    b = args.batch
    x = torch.randn(b, 3, 224, 224)
    y = torch.randint(0, 1000, (b,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    t = time_runs(step, args.runs, args.warmup)
    return record(args, "pytorch train", "fp32", "train", b, t, "%s, SGD momentum, eager" % desc)


PEERS = {
    "eager": peer_eager,
    "torchscript": peer_torchscript,
    "int8": peer_int8,
    "opencv": peer_opencv,
    "ort": peer_ort,
    "train": peer_train,
}


# ---- versions ------------------------------------------------------------------------------


def blas_library():
    """The BLAS shared object this process loaded with torch (Debian's libblas.so.3 is an
    alternative: reference BLAS, OpenBLAS, BLIS...), or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    except OSError:
        return None
    libs = sorted({os.path.realpath(p) for p in paths if "/" in p and "lapack" not in p})
    return ", ".join(os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p))
                     for p in libs) or None


def machine():
    m = {"os": platform.platform(), "cpus_online": os.cpu_count()}
    try:
        m["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "Hardware") and "cpu" not in m:
                    m["cpu"] = val.strip()
                if key in ("flags", "Features") and "simd" not in m:
                    flags = set(val.split())
                    m["simd"] = [x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "asimd",
                                             "asimddp", "sve") if x in flags]
        with open("/proc/meminfo") as f:
            m["mem_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
        m["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    m.setdefault("cpu", platform.processor() or platform.machine())
    return m


def info(_args):
    """Machine and versions, as one JSON object (printed at the top of the report)."""
    v = {"python": platform.python_version()}
    for name, mod in (
        ("torch", "torch"),
        ("torchvision", "torchvision"),
        ("opencv", "cv2"),
        ("onnxruntime", "onnxruntime"),
        ("numpy", "numpy"),
    ):
        try:
            m = __import__(mod)
            v[name] = m.__version__
        except Exception:  # noqa: BLE001 — absent or broken: reported as not installed
            v[name] = None
    if v["torch"]:
        import torch

        v["torch_qengines"] = [e for e in torch.backends.quantized.supported_engines if e != "none"]
        v["torch_onednn"] = torch.backends.mkldnn.is_available()
        v["blas"] = blas_library()
    if v["opencv"]:
        import cv2

        for line in cv2.getBuildInformation().splitlines():
            if "Parallel framework" in line:
                v["opencv_parallel"] = line.split(":", 1)[1].strip()
    print(json.dumps({"machine": machine(), "versions": v}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    e = sub.add_parser("export-onnx")
    e.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("peer", choices=sorted(PEERS))
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--runs", type=int, default=50)
    r.add_argument("--warmup", type=int, default=5)
    r.add_argument("--batch", type=int, default=32, help="training batch (train only)")
    r.add_argument("--onnx", help="ONNX file for opencv / ort")
    r.add_argument(
        "--qengine", help="PyTorch quantized engine (default: x86, fbgemm, onednn, qnnpack)"
    )
    for q in (e, r):
        q.add_argument(
            "--model",
            choices=["auto", "torchvision", "hand"],
            default="auto",
            help="network definition (auto: torchvision if importable, else hand-written)",
        )
    args = p.parse_args()
    if args.cmd == "info":
        info(args)
    elif args.cmd == "export-onnx":
        export_onnx(args)
    else:
        print(json.dumps(PEERS[args.peer](args)))


if __name__ == "__main__":
    main()
