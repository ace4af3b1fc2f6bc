#!/usr/bin/env python3
"""Ringmaster's all-reduce and Gloo's, side by side on this machine.

    scripts/allreduce_vs_gloo.py [--ranks 2,3,4] [--sizes 8,64K,1M,16M,64M,256M] [--launches 3]
                                 [--ringmaster .build/release/ringmaster] [--python VENV/bin/python]

For every N it alternates launches — ringmaster, Gloo, ringmaster, Gloo, … — so both see the
same machine state, then prints one Markdown table per implementation: busbw in GB/s per size
(the 8-byte column is the time in µs), the median over launches with the range in brackets.
Each launch is `ringmaster bench allreduce --json` or `scripts/gloo_allreduce_bench.py --json`.
Without a Python that has torch, only ringmaster is measured.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV_PYTHON = "/var/tmp/ringmaster-torch-venv/bin/python"


def launch(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800).stdout
    return {row["bytes"]: row for row in json.loads(out)}


def cell(values, small):
    med = statistics.median(values)
    if small:
        return f"{med * 1e6:.0f} µs ({min(values) * 1e6:.0f}–{max(values) * 1e6:.0f})"
    return f"{med:.2f} ({min(values):.2f}–{max(values):.2f})"


def has_torch(python):
    if not python or not os.path.exists(python):
        return False
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="2,3,4")
    parser.add_argument("--sizes", default="8,64K,1M,16M,64M,256M")
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--ringmaster", default=".build/release/ringmaster")
    parser.add_argument("--python", default=DEFAULT_VENV_PYTHON)
    args = parser.parse_args()
    impls = {"ringmaster": lambda n: [args.ringmaster, "bench", "allreduce", "--ranks", str(n),
                                      "--sizes", args.sizes, "--json"]}
    if has_torch(args.python):
        impls["gloo"] = lambda n: [args.python, os.path.join(HERE, "gloo_allreduce_bench.py"), "--ranks", str(n),
                                   "--sizes", args.sizes, "--json"]
    else:
        print(f"no torch at {args.python}: measuring ringmaster only (scripts/torch-venv.sh makes one)", file=sys.stderr)
    ranks = [int(n) for n in args.ranks.split(",")]
    results = {name: {n: [] for n in ranks} for name in impls}
    for n in ranks:
        for i in range(args.launches):
            for name, command in impls.items():
                print(f"N={n} launch {i + 1}/{args.launches}: {name}", file=sys.stderr, flush=True)
                results[name][n].append(launch(command(n)))
    for name in impls:
        sizes = sorted(results[name][ranks[0]][0].keys())
        labels = [label(b) for b in sizes]
        print(f"\n{name} (busbw GB/s; the smallest size: time), median of {args.launches} launches (range)\n")
        print("| N | " + " | ".join(labels) + " |")
        print("| --- " * (len(sizes) + 1) + "|")
        for n in ranks:
            cells = []
            for k, b in enumerate(sizes):
                runs = results[name][n]
                small = k == 0 and b <= 8
                cells.append(cell([r[b]["seconds"] if small else r[b]["busbwGBps"] for r in runs], small))
            print(f"| {n} | " + " | ".join(cells) + " |")


def label(n):
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}iB"
    return f"{n} B"


if __name__ == "__main__":
    main()
