#!/usr/bin/env python3
"""Gloo's all-reduce measured the way `ringmaster bench allreduce` measures its own.

    scripts/gloo_allreduce_bench.py --ranks N [--sizes 8,4K,…,256M] [--json]

Spawns N processes joined by torch.distributed (backend gloo, TCP on 127.0.0.1). For every
size: float32 sum, a result check, 5 warm-up all-reduces, then 20 timed ones each preceded by
a barrier. An iteration's time is its slowest rank's (a max all-reduce of the per-iteration
times); the printed time is the median over iterations, algbw = bytes/time and
busbw = algbw·2(N−1)/N — the same definitions and columns as the Swift benchmark, so the two
can run side by side on one machine. Needs torch (scripts/torch-venv.sh makes a venv with it).
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WARMUP = 5
ITERATIONS = 20


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def size_label(n):
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank, world, port, sizes, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    rows = []
    for size in sizes:
        count = max(1, size // 4)
        buf = torch.full((count,), float(rank % 4 + 1), dtype=torch.float32)
        dist.all_reduce(buf)
        expected = float(sum(r % 4 + 1 for r in range(world)))
        if not bool(torch.all(buf == expected)):
            raise SystemExit(f"rank {rank}: gloo all-reduce self-check failed at {size} bytes")
        buf.fill_(0.5)
        for _ in range(WARMUP):
            dist.all_reduce(buf)
        times = torch.zeros(ITERATIONS, dtype=torch.float64)
        for i in range(ITERATIONS):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buf)
            times[i] = time.perf_counter() - start
        dist.all_reduce(times, op=dist.ReduceOp.MAX)
        seconds = statistics.median(times.tolist())
        algbw = count * 4 / seconds / 1e9
        rows.append({"ranks": world, "bytes": count * 4, "dtype": "float32", "seconds": seconds,
                     "algbwGBps": algbw, "busbwGBps": algbw * 2 * (world - 1) / world})
    dist.destroy_process_group()
    if rank == 0:
        queue.put(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, required=True)
    parser.add_argument("--sizes", default="8,4K,64K,1M,16M,64M,256M")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.ranks < 1:
        sys.exit("gloo_allreduce_bench: --ranks must be at least 1")
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=rank_main, args=(r, args.ranks, port, sizes, queue)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    rows = queue.get(timeout=1800)
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        sys.exit("gloo_allreduce_bench: a rank failed: " + ", ".join(f"rank {r} exit {p.exitcode}" for r, p in enumerate(procs)))
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'ranks':>5} {'dtype':>9} {'bytes':>8} {'time(us)':>12} {'algbw(GB/s)':>12} {'busbw(GB/s)':>12}")
    for row in rows:
        print(f"{row['ranks']:>5} {row['dtype']:>9} {size_label(row['bytes']):>8} {row['seconds'] * 1e6:>12.1f} "
              f"{row['algbwGBps']:>12.3f} {row['busbwGBps']:>12.3f}")


if __name__ == "__main__":
    main()
