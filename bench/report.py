"""report.py — formats what bench/compare measured: the header (machine, versions), the table
with each row's time per image relative to vigie's, the list of what was skipped and why, and
the same as one JSON file. Standard library only; measures nothing.

    report.py header INFO.json PACKAGES.tsv
    report.py vigie-record PRECISION MODE WARMUP NOTES < `vigie bench --json` output
    report.py table INFO.json PACKAGES.tsv RESULTS.jsonl SKIPPED.tsv SETTINGS.json [--json OUT]

RESULTS.jsonl holds one record per line (see peers.py `record`); SKIPPED.tsv holds
"what<TAB>why" lines; PACKAGES.tsv holds "package<TAB>version-or-status" lines.
"""

import json
import os
import sys

MODES = {"infer": 0, "train": 1}
PRECISIONS = {"fp32": 0, "int8": 1}


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]


def header(info, packages):
    m, v = info["machine"], info["versions"]
    cpus = m.get("cpus_usable", m.get("cpus_online"))
    lines = [
        "machine   %s, %s CPUs usable, %s GB RAM, SIMD %s"
        % (m.get("cpu"), cpus, m.get("mem_gb", "?"), " ".join(m.get("simd", [])) or "?"),
        "          %s, load average %.2f before measuring (make included)"
        % (m.get("os"), m.get("loadavg_1min", 0.0)),
        "python    %s (%s)" % (v.get("python"), sys.executable),
        "torch     %s, quantized engines %s, oneDNN %s, BLAS %s"
        % (
            v.get("torch") or "not installed",
            ", ".join(v.get("torch_qengines", [])) or "-",
            "yes" if v.get("torch_onednn") else "no",
            v.get("blas") or "-",
        ),
        "          torchvision %s, numpy %s"
        % (v.get("torchvision") or "not installed", v.get("numpy") or "not installed"),
        "opencv    %s (parallel: %s)"
        % (v.get("opencv") or "not installed", v.get("opencv_parallel", "-")),
        "onnxrt    %s" % (v.get("onnxruntime") or "not installed"),
    ]
    if packages:
        lines.append("debian    " + ", ".join("%s %s" % p for p in packages))
    return "\n".join(lines)


def vigie_record(precision, mode, warmup, notes):
    """`vigie bench --json` output on stdin -> one record in peers.py's shape."""
    b = json.loads(sys.stdin.read())
    rec = {"engine": "vigie", "precision": precision, "mode": mode}
    for k in ("threads", "batch", "median_ms", "p90_ms", "min_ms", "images_per_s",
              "peak_rss_mb", "runs"):
        rec[k] = b[k]
    rec["warmup"] = int(warmup)
    rec["notes"] = notes
    print(json.dumps(rec))


def other_cpu(start, end):
    """Average number of CPUs that processes other than bench/compare's (and the hypervisor,
    as steal time) kept busy between two marks written by bench/compare's cpu_mark:
    "<the cpu line of /proc/stat>|<children's user and system time, from bash's times>|<time>".
    None when the marks are missing or unreadable."""
    def parse(mark):
        stat, children, now = mark.split("|")
        f = [int(x) for x in stat.split()]
        busy = sum(f[i] for i in (0, 1, 2, 5, 6, 7) if i < len(f))  # not idle, iowait, guest
        secs = 0.0
        for t in children.split():  # "1m2.345s"
            m, _, rest = t.partition("m")
            secs += 60 * float(m) + float(rest.rstrip("s"))
        return busy / os.sysconf("SC_CLK_TCK"), secs, float(now)

    try:
        b0, c0, t0 = parse(start)
        b1, c1, t1 = parse(end)
    except (AttributeError, ValueError, IndexError):
        return None
    if t1 <= t0:
        return None
    return round(max(0.0, (b1 - b0) - (c1 - c0)) / (t1 - t0), 2)


def ms_per_image(r):
    return r["median_ms"] / r["batch"]


def add_ratios(results):
    """ratio = peer's median time per image / vigie's, same mode, precision and thread count;
    > 1 means vigie is faster. None where vigie has no such row."""
    ref = {
        (r["mode"], r["precision"], r["threads"]): ms_per_image(r)
        for r in results
        if r["engine"] == "vigie"
    }
    for r in results:
        v = ref.get((r["mode"], r["precision"], r["threads"]))
        r["ratio"] = round(ms_per_image(r) / v, 3) if v else None


def table(results):
    order = {}
    for r in results:  # engines in the order they were measured, vigie first
        order.setdefault(r["engine"], 0 if r["engine"] == "vigie" else len(order) + 1)
    rows = sorted(
        results,
        key=lambda r: (
            MODES.get(r["mode"], 9),
            PRECISIONS.get(r["precision"], 9),
            r["threads"],
            order[r["engine"]],
        ),
    )
    cols = ["engine", "precision", "threads", "batch", "median ms", "p90 ms", "images/s",
            "peak RSS MB", "ratio"]
    body = []
    for r in rows:
        body.append(
            [
                r["engine"] + (" (train)" if r["mode"] == "train" else ""),
                r["precision"],
                str(r["threads"]),
                str(r["batch"]),
                "%.2f" % r["median_ms"],
                "%.2f" % r["p90_ms"],
                "%.1f" % r["images_per_s"],
                "%.0f" % r["peak_rss_mb"],
                "%.2f" % r["ratio"] if r["ratio"] is not None else "n/a",
            ]
        )
    w = [max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(cols)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cells)
    )
    out = [fmt(cols), "  ".join("-" * x for x in w)]
    prev = None
    for r, b in zip(rows, body):
        group = (r["mode"], r["precision"])
        if prev is not None and group != prev:
            out.append("")
        prev = group
        out.append(fmt(b))
    return "\n".join(out)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "header" and len(sys.argv) == 4:
        with open(sys.argv[2]) as f:
            print(header(json.load(f), load_tsv(sys.argv[3])))
    elif cmd == "vigie-record" and len(sys.argv) == 6:
        vigie_record(*sys.argv[2:6])
    elif cmd == "table" and len(sys.argv) in (7, 9):
        info_p, pkg_p, res_p, skip_p, set_p = sys.argv[2:7]
        with open(info_p) as f:
            info = json.load(f)
        with open(set_p) as f:
            settings = json.load(f)
        results = load_jsonl(res_p)
        skipped = load_tsv(skip_p)
        add_ratios(results)
        print(table(results) if results else "(no results)")
        print()
        print("ratio = engine's median time per image / vigie's at the same precision, mode and")
        print("threads (> 1: vigie is faster); n/a where vigie has no such row.")
        notes = {}
        for r in results:
            if r.get("notes"):
                notes.setdefault(r["engine"], r["notes"])
        if notes:
            print()
            for e, n in notes.items():
                print("  %-20s %s" % (e, n))
        print()
        if skipped:
            print("skipped:")
            for what, why in skipped:
                print("  %-28s %s" % (what, why))
        else:
            print("skipped: nothing")
        others = other_cpu(os.environ.get("CPU_MARK_START"), os.environ.get("CPU_MARK_END"))
        cpus = info["machine"].get("cpus_usable") or os.cpu_count() or 1
        if others is not None:
            print()
            print("other processes used %.2f of the %d CPUs on average while this measured%s" % (
                others, cpus,
                ": numbers are unreliable, the multi-thread rows most" if others > 0.1 * cpus
                else ""))
        if len(sys.argv) == 9 and sys.argv[7] == "--json":
            doc = {
                "model": "MobileNetV2 1.0, 224x224",
                "settings": settings,
                "machine": info["machine"],
                "versions": info["versions"],
                "packages": dict(load_tsv(pkg_p)),
                "results": results,
                "skipped": [{"what": w, "why": y} for w, y in skipped],
                "other_processes_cpus": others,
            }
            with open(sys.argv[8], "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
