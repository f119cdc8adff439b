#!/usr/bin/env python3
"""summarize_shapes.py: one markdown table over several bench_index.py runs
(one results.json per data shape, as bench_shapes.sh leaves them): for each
shape, latency at recall@10 0.95 and 0.99 of HNSW and of each embq_ivf layout
(interpolated on each curve, as bench_index.py does; '-' where a curve does
not reach the recall), the ratios to HNSW, index size and build time ratios,
and the recall ceiling of the int8 codes.

Usage: summarize_shapes.py RESULTS.json [RESULTS.json ...]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_index import at_recall  # noqa: E402


def lat(rows, method, target):
    pts = [(r["recall"], r["lat_ms"], r["setting"]) for r in rows if r["method"] == method]
    cheapest, interp = at_recall(pts, target)
    return interp if interp else (cheapest[1] if cheapest else None)


def fmt(x, unit=""):
    return "-" if x is None else "%.2f%s" % (x, unit)


def main():
    head = ("| shape | rows x dims | int8 ceiling | recall | HNSW ms | flat ms (x HNSW) | "
            "signs ms (x HNSW) | size flat / signs vs HNSW | build HNSW / flat, signs |")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for path in sys.argv[1:]:
        j = json.load(open(path))
        m, rows, b = j["meta"], j["rows"], j["builds"]
        ceiling = next((r["recall"] for r in rows if r["method"].startswith("exact seq scan, i8vec")), None)
        h = b["bix_vec_hnsw"]
        sizes = " / ".join("%.3f" % (b[k]["size_bytes"] / h["size_bytes"])
                           for k in ("bix_embq_flat", "bix_embq_signs") if k in b)
        builds = ", ".join("%.0fx" % (h["build_s"] / b[k]["build_s"])
                           for k in ("bix_embq_flat", "bix_embq_signs") if k in b)
        for target in (0.95, 0.99):
            hl = lat(rows, "pgvector HNSW", target)
            cells = []
            for lo in ("flat", "signs"):
                e = lat(rows, "embq_ivf " + lo, target)
                cells.append("%s (%s)" % (fmt(e), "%.2fx" % (e / hl) if e and hl else
                                          "HNSW does not reach it" if e else "-"))
            print("| %s | %d x %d | %s | %.2f | %s | %s | %s | %s | %s |" % (
                m.get("label", "?") if target == 0.95 else "", m["rows"], m["dim"],
                "%.3f" % ceiling if ceiling and target == 0.95 else "", target, fmt(hl), cells[0], cells[1],
                sizes if target == 0.95 else "", builds if target == 0.95 else ""))


if __name__ == "__main__":
    main()
