#!/usr/bin/env python3
"""PyTorch DDP step time and gradient all-reduce time: Gloo against Ringmaster's ring hook.

    scripts/torch_ddp_bench.py [--ranks 2,4] [--launches 3] [--steps 20] [--warmup 5]
                               [--model-mib 84] [--layers 4] [--batch 32] [--bucket-mib 25]
                               [--sides gloo,ring] [--python VENV/bin/python]
                               [--library .build/release/libRingmasterC.so] [--json]

For every N it alternates launches — gloo, ring, gloo, ring, … — so drift on the machine hits
both sides alike. A launch starts N rank processes on 127.0.0.1 (OMP_NUM_THREADS=1 each), all
training the same float32 MLP (``--layers`` square Linear+ReLU layers, ``--model-mib`` MiB of
parameters; the default is 22M parameters) on synthetic data with SGD, wrapped in
DistributedDataParallel over a Gloo process group. The sides differ only in DDP's comm hook:

  gloo       plain DDP's all-reduce: torch's ``default_hooks.allreduce_hook`` (pre-divide, async
             Gloo all-reduce, overlapped with the rest of backward). A bucket's time runs from the
             hook call to its future's completion; a step's all-reduce time is the union of those
             intervals (= their sum when they do not overlap).
  ring       ``ringmaster.torch.ring_allreduce_hook`` over ``ring_group()`` (pre-divide, blocking
             ring all-reduce through libRingmasterC.so); timed around the hook, summed per step.
  gloo-sync  (optional) the Gloo all-reduce called synchronously in the hook, like the ring hook:
             the like-for-like all-reduce comparison.
  ring-avg   (optional, an experiment) the ring hook without its pre-divide: one
             ``allreduce_tensor(op="avg")``, which divides inside the ring's last reduce step (1/N
             of the bucket, in cache) instead of a separate pass over the whole bucket.
  ring-async (optional, an experiment) ring-avg's all-reduce on one background thread (ctypes
             drops the GIL), the hook returning a pending future that thread completes: overlap
             with the rest of backward, as Gloo gets; timed like gloo.

Each launch runs --warmup untimed steps, then --steps timed ones, each after a barrier. A step's
time (forward, backward with the all-reduces, optimizer step) and its all-reduce time are the
slowest rank's; a launch reports their medians over steps. The tables give the median over
launches with the range, and the ratio gloo/ring (> 1: the ring is faster). Beside the hook time
(which includes waiting for slower ranks' compute) they give 'comm': per bucket the fastest rank's
time (the last rank to arrive waits for no one), summed over buckets. The ring side needs
the C ABI library (``--library``, else $RINGMASTER_LIBRARY, else the repository's
.build/release or .build/debug) and hosts its own rendezvous (scripts/ringmaster_rendezvous.py).
"""
import argparse
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REPO_PYTHON = os.path.join(REPO, "python")
DEFAULT_VENV_PYTHON = "/var/tmp/ringmaster-torch-venv/bin/python"
SIDES = ("gloo", "ring", "gloo-sync", "ring-avg", "ring-async")


# ---- shared --------------------------------------------------------------------------------------

def model_width(model_mib, layers):
    """The width of ``layers`` square Linear layers holding ``model_mib`` MiB of float32 parameters."""
    params = model_mib * (1 << 20) / 4
    return max(8, int(math.sqrt(params / layers)))


def parameter_count(width, layers):
    return layers * (width * width + width)


def build_model(model_mib, layers):
    """The benchmark model: ``layers`` square Linear layers with ReLU between them, seeded."""
    import torch
    width = model_width(model_mib, layers)
    torch.manual_seed(0)
    modules = []
    for _ in range(layers):
        modules += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*modules[:-1]), width


def add_model_arguments(parser):
    parser.add_argument("--model-mib", type=float, default=84,
                        help="float32 parameter MiB of the MLP (default 84: 22M parameters)")
    parser.add_argument("--layers", type=int, default=4, help="square Linear+ReLU layers (default 4)")
    parser.add_argument("--batch", type=int, default=32, help="samples per rank per step (default 32)")
    parser.add_argument("--bucket-mib", type=float, default=25, help="DDP bucket_cap_mb (default 25, DDP's)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per launch (default 5)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per launch (default 20)")


# ---- a rank ----------------------------------------------------------------------------------------

class HookTimer:
    """(start, end, bytes) of every bucket all-reduced in the current step."""

    def __init__(self):
        self.spans = []

    def add(self, start, end, nbytes):
        self.spans.append((start, end, nbytes))  # list.append is atomic under the GIL

    def take(self):
        spans, self.spans = self.spans, []
        return spans


def union_seconds(spans):
    total, cursor = 0.0, -math.inf
    for start, end, _ in sorted(spans):
        if end > cursor:
            total += end - max(start, cursor)
            cursor = end
    return total


def worker(args):
    if os.path.isdir(os.path.join(REPO_PYTHON, "ringmaster")):
        sys.path.insert(0, REPO_PYTHON)  # this checkout's package, not an installed copy
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    rank, world, side = args.rank, args.world, args.worker
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=world)
    model, width = build_model(args.model_mib, args.layers)
    ddp = DistributedDataParallel(model, bucket_cap_mb=args.bucket_mib)
    timer = HookTimer()

    if side == "ring":
        from ringmaster.torch import ring_allreduce_hook, ring_group
        group = ring_group(timeout="120s")
        if group.size != world:
            raise SystemExit(f"rank {rank}: the ring's data group has {group.size} ranks, expected {world}")

        def hook(state, bucket) -> torch.futures.Future[torch.Tensor]:
            start = time.perf_counter()
            future = ring_allreduce_hook(group, bucket)
            timer.add(start, time.perf_counter(), bucket.buffer().numel() * bucket.buffer().element_size())
            return future
    elif side == "gloo":
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def hook(state, bucket) -> torch.futures.Future[torch.Tensor]:
            start = time.perf_counter()
            nbytes = bucket.buffer().numel() * bucket.buffer().element_size()
            future = allreduce_hook(None, bucket)

            def done(f):
                timer.add(start, time.perf_counter(), nbytes)
                return f.value()
            return future.then(done)
    elif side == "ring-avg":
        from ringmaster.torch import allreduce_tensor, ring_group
        group = ring_group(timeout="120s")

        def hook(state, bucket) -> torch.futures.Future[torch.Tensor]:
            start = time.perf_counter()
            tensor = bucket.buffer()
            allreduce_tensor(tensor, group, "avg")
            timer.add(start, time.perf_counter(), tensor.numel() * tensor.element_size())
            future = torch.futures.Future()
            future.set_result(tensor)
            return future
    elif side == "ring-async":
        import threading
        import queue as queues
        from ringmaster.torch import allreduce_tensor, ring_group
        group = ring_group(timeout="120s")
        pending = queues.SimpleQueue()

        def serve():  # one thread, buckets in DDP's order: every rank issues the same sequence
            while True:
                item = pending.get()
                if item is None:
                    return
                start, tensor, future = item
                try:
                    allreduce_tensor(tensor, group, "avg")
                    timer.add(start, time.perf_counter(), tensor.numel() * tensor.element_size())
                    future.set_result(tensor)
                except BaseException as e:  # noqa: B902 — handed to DDP, which raises it in backward
                    future.set_exception(e)
        threading.Thread(target=serve, name="ring-allreduce", daemon=True).start()

        def hook(state, bucket) -> torch.futures.Future[torch.Tensor]:
            future = torch.futures.Future()
            pending.put((time.perf_counter(), bucket.buffer(), future))
            return future
    else:  # gloo-sync
        def hook(state, bucket) -> torch.futures.Future[torch.Tensor]:
            start = time.perf_counter()
            tensor = bucket.buffer()
            tensor.div_(world)
            dist.all_reduce(tensor)
            timer.add(start, time.perf_counter(), tensor.numel() * tensor.element_size())
            future = torch.futures.Future()
            future.set_result(tensor)
            return future
    ddp.register_comm_hook(None, hook)

    optimizer = torch.optim.SGD(ddp.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(1 + rank)
    x = torch.randn(args.batch, width, generator=generator)
    y = torch.randn(args.batch, width, generator=generator)

    rows = []  # per timed step: step seconds, all-reduce union, all-reduce sum
    buckets = []
    for i in range(args.warmup + args.steps):
        dist.barrier()
        timer.take()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        loss = F.mse_loss(ddp(x), y)
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        step = time.perf_counter() - start
        spans = timer.take()
        if not math.isfinite(loss.item()):
            raise SystemExit(f"rank {rank}: the loss is {loss.item()}")
        if i >= args.warmup:
            rows.append([step, union_seconds(spans), sum(e - s for s, e, _ in spans), forward - start,
                         backward - forward, step - (backward - start)])
            buckets.append([(nbytes, e - s) for s, e, nbytes in sorted(spans)])

    # The check that the ranks hold the same parameters after training (the all-reduce averaged).
    with torch.no_grad():
        checksum = torch.stack([p.double().sum() for p in model.parameters()]).sum().reshape(1)
    low, high = checksum.clone(), checksum.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    layout = [b for b, _ in buckets[-1]]
    if any([b for b, _ in step] != layout for step in buckets):
        raise SystemExit(f"rank {rank}: the bucket layout changed between timed steps")
    # Per bucket and step, the fastest rank's time: the last to arrive waits for no one, so this is
    # the all-reduce itself, without the other ranks' compute skew.
    per_bucket = torch.tensor([[t for _, t in step] for step in buckets], dtype=torch.float64)
    dist.all_reduce(per_bucket, op=dist.ReduceOp.MIN)
    table = torch.tensor(rows, dtype=torch.float64)
    slowest, fastest = table.clone(), table.clone()
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    dist.all_reduce(fastest, op=dist.ReduceOp.MIN)
    if side == "ring-async":
        pending.put(None)
    if side.startswith("ring"):
        group.barrier(timeout="60s")
    dist.destroy_process_group()
    if rank != 0:
        return
    if abs(high.item() - low.item()) > 1e-6 * max(1.0, abs(high.item())):
        raise SystemExit(f"ranks diverged after {args.warmup + args.steps} steps: parameter sums "
                         f"{low.item()!r} … {high.item()!r}")
    result = {
        "side": side, "ranks": world, "width": width, "layers": args.layers,
        "parameters": parameter_count(width, args.layers), "batch": args.batch,
        "gradientBytes": sum(layout),
        "stepSeconds": statistics.median(slowest[:, 0].tolist()),
        "allreduceSeconds": statistics.median(slowest[:, 1].tolist()),
        "allreduceSumSeconds": statistics.median(slowest[:, 2].tolist()),
        "allreduceFastestRankSeconds": statistics.median(fastest[:, 1].tolist()),
        # Σ over buckets of the fastest rank's bucket time (median over steps): the skew-free all-reduce.
        "allreduceCommSeconds": statistics.median(per_bucket.sum(dim=1).tolist()),
        # Rank 0's phases (medians): forward, backward (its all-reduces included), optimizer step.
        "rank0ForwardSeconds": statistics.median(table[:, 3].tolist()),
        "rank0BackwardSeconds": statistics.median(table[:, 4].tolist()),
        "rank0OptimizerSeconds": statistics.median(table[:, 5].tolist()),
        "buckets": [{"bytes": b, "fastestRankSeconds": statistics.median(per_bucket[:, k].tolist())}
                    for k, b in enumerate(layout)],
        "steps": args.steps,
    }
    print("RESULT " + json.dumps(result), flush=True)


# ---- the driver -------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_library():
    explicit = os.environ.get("RINGMASTER_LIBRARY")
    if explicit:
        return explicit
    for config in ("release", "debug"):
        path = os.path.join(REPO, ".build", config, "libRingmasterC.so")
        if os.path.isfile(path):
            return path
    return None


def launch(args, side, n):
    sys.path.insert(0, HERE)
    from ringmaster_rendezvous import Rendezvous

    base = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
                PYTHONUNBUFFERED="1")
    rendezvous = None
    if side.startswith("ring"):
        base["RINGMASTER_LIBRARY"] = args.library
        rendezvous = Rendezvous(n, token=secrets.token_hex(16), attempt=1)
    port = free_port()
    command = [args.python, os.path.abspath(__file__), "--worker", side, "--world", str(n), "--port", str(port),
               "--model-mib", str(args.model_mib), "--layers", str(args.layers), "--batch", str(args.batch),
               "--bucket-mib", str(args.bucket_mib), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    procs = []
    try:
        for r in range(n):
            env = dict(base, **(rendezvous.environment(r) if rendezvous else {}))
            procs.append(subprocess.Popen(command + ["--rank", str(r)], env=env, text=True,
                                          stdout=subprocess.PIPE if r == 0 else subprocess.DEVNULL))
        out, _ = procs[0].communicate(timeout=args.timeout)
        deadline = time.monotonic() + 60
        for p in procs[1:]:
            p.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        sys.exit(f"torch_ddp_bench: the {side} launch with {n} ranks ran past {args.timeout} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if rendezvous:
            rendezvous.close()
    failed = [f"rank {r} exit {p.returncode}" for r, p in enumerate(procs) if p.returncode != 0]
    rows = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    if failed or not rows:
        sys.exit(f"torch_ddp_bench: the {side} launch with {n} ranks failed: {', '.join(failed) or 'no result'}")
    return rows[-1]


def spread(values, scale=1.0, digits=1):
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med * scale:.{digits}f}"
    return f"{med * scale:.{digits}f} ({min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f})"


def mib(nbytes):
    return nbytes / (1 << 20)


def ratio_pairs(sides):
    """(gloo-ish, ring-ish) side pairs whose ratio is reported: gloo/ring first."""
    return [(g, r) for r in sides if r.startswith("ring") for g in sides if g.startswith("gloo")]


def summarize(results, ranks, sides):
    """Per N: per side the medians over launches, and the gloo/ring ratios (launch i's gloo over launch i's
    ring, median and range; and the ratio of the medians)."""
    summary = {}
    for n in ranks:
        entry = {}
        for side in sides:
            runs = results[n][side]
            entry[side] = {key: statistics.median(r[key] for r in runs)
                           for key in ("stepSeconds", "allreduceSeconds", "allreduceSumSeconds", "allreduceCommSeconds")}
        for g, r in ratio_pairs(sides):
            for key, name in (("allreduceSeconds", "allreduce"), ("allreduceCommSeconds", "comm"),
                              ("stepSeconds", "step")):
                pairs = [a[key] / b[key] for a, b in zip(results[n][g], results[n][r])]
                entry[f"{g}/{r} {name}"] = {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs),
                                            "ofMedians": entry[g][key] / entry[r][key]}
        summary[n] = entry
    return summary


def print_tables(args, results, ranks, sides, summary):
    first = results[ranks[0]][sides[0]][0]
    print(f"\nDDP benchmark: MLP {first['layers']}×{first['width']}² = {first['parameters'] / 1e6:.1f}M float32 "
          f"parameters ({mib(first['gradientBytes']):.0f} MiB of gradients), batch {args.batch} per rank, SGD, "
          f"bucket_cap_mb {args.bucket_mib:g}, {args.warmup} warm-up + {args.steps} timed steps per launch, "
          f"OMP_NUM_THREADS=1; median of {args.launches} alternating launches (range), ms. "
          f"'all-reduce' is the slowest rank's hook time per step (it includes waiting for slower ranks' "
          f"compute); 'comm' sums over buckets the fastest rank's bucket time (the last rank to arrive "
          f"waits for no one: the all-reduce without the skew); fwd/bwd/opt are rank 0's phases (bwd "
          f"includes its all-reduces); comm busbw = gradient bytes ÷ comm × 2(N−1)/N.")
    for n in ranks:
        print(f"\n### N = {n}\n")
        print("| side | step | all-reduce / step | all-reduce share | comm / step | comm busbw (GB/s) "
              "| fwd / bwd / opt | buckets (MiB) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for side in sides:
            runs = results[n][side]
            share = [r["allreduceSeconds"] / r["stepSeconds"] for r in runs]
            busbw = [r["gradientBytes"] / r["allreduceCommSeconds"] * 2 * (n - 1) / n / 1e9 for r in runs]
            phases = " / ".join(f"{statistics.median(r[k] for r in runs) * 1e3:.0f}"
                                for k in ("rank0ForwardSeconds", "rank0BackwardSeconds", "rank0OptimizerSeconds"))
            layout = ", ".join(f"{mib(b['bytes']):.1f}" for b in runs[-1]["buckets"])
            print(f"| {side} | {spread([r['stepSeconds'] for r in runs], 1e3)} "
                  f"| {spread([r['allreduceSeconds'] for r in runs], 1e3)} | {spread(share, 100, 0)} % "
                  f"| {spread([r['allreduceCommSeconds'] for r in runs], 1e3)} "
                  f"| {spread(busbw, 1, 2)} | {phases} | {layout} |")
        entry = summary[n]
        for g, r in ratio_pairs(sides):
            s, a, c = (entry[f"{g}/{r} {k}"] for k in ("step", "allreduce", "comm"))
            print(f"| **{g}/{r}** | **{s['median']:.2f}×** ({s['min']:.2f}–{s['max']:.2f}) "
                  f"| **{a['median']:.2f}×** ({a['min']:.2f}–{a['max']:.2f}) | "
                  f"| **{c['median']:.2f}×** ({c['min']:.2f}–{c['max']:.2f}) | | | |")
    if "ring" in sides and "gloo" in sides:
        print()
        for n in ranks:
            a, c, s = (summary[n][f"gloo/ring {k}"]["median"] for k in ("allreduce", "comm", "step"))
            print(f"N={n}: all-reduce gloo/ring {a:.2f}× (goal ≥ 1.30×: {'met' if a >= 1.3 else 'NOT met'}), "
                  f"comm {c:.2f}× ({'met' if c >= 1.3 else 'NOT met'}); "
                  f"step gloo/ring {s:.2f}× (goal > 1, a shorter ring step: {'met' if s > 1 else 'NOT met'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", default="2,4", help="comma-separated rank counts (default 2,4)")
    parser.add_argument("--launches", type=int, default=3, help="launches per side and N (default 3)")
    add_model_arguments(parser)
    parser.add_argument("--sides", default="gloo,ring", help=f"comma-separated, of {', '.join(SIDES)} "
                                                             f"(default gloo,ring)")
    parser.add_argument("--python", default=None, help="Python with torch for the ranks (default: "
                                                       f"{DEFAULT_VENV_PYTHON} if present, else this one)")
    parser.add_argument("--library", default=None, help="libRingmasterC.so for the ring side (default: "
                                                        "$RINGMASTER_LIBRARY, else .build/release or .build/debug)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per launch (default 900)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        # Skip interpreter teardown: a gloo rank whose peer (rank 0 holds the TCPStore) has already exited
        # can abort in a store thread's destructor ("terminate called without an active exception"),
        # seen about once in four tiny launches. The results are printed and flushed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    try:
        ranks = [int(n) for n in args.ranks.split(",")]
        sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    except ValueError:
        parser.error("--ranks: expected e.g. 2,4")
    if not ranks or any(n < 1 for n in ranks):
        parser.error("--ranks: every count must be at least 1")
    if not sides or any(s not in SIDES for s in sides) or len(set(sides)) != len(sides):
        parser.error(f"--sides: distinct names of {', '.join(SIDES)}")
    if args.launches < 1 or args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.layers < 1:
        parser.error("--launches, --steps, --batch, --layers must be ≥ 1 and --warmup ≥ 0")
    args.python = args.python or (DEFAULT_VENV_PYTHON if os.path.exists(DEFAULT_VENV_PYTHON) else sys.executable)
    if subprocess.run([args.python, "-c", "import torch"], capture_output=True).returncode != 0:
        sys.exit(f"torch_ddp_bench: {args.python} cannot import torch (scripts/torch-venv.sh makes a venv with it)")
    if any(s.startswith("ring") for s in sides):
        args.library = os.path.abspath(args.library or default_library() or "")
        if not os.path.isfile(args.library):
            sys.exit("torch_ddp_bench: no libRingmasterC.so — build it (swift build -c release --product "
                     "RingmasterC) or pass --library PATH")

    results = {n: {side: [] for side in sides} for n in ranks}
    started = time.monotonic()
    for n in ranks:
        for i in range(args.launches):
            for side in sides:
                print(f"N={n} launch {i + 1}/{args.launches}: {side}", file=sys.stderr, flush=True)
                row = launch(args, side, n)
                print(f"  step {row['stepSeconds'] * 1e3:.1f} ms, all-reduce {row['allreduceSeconds'] * 1e3:.1f} ms",
                      file=sys.stderr, flush=True)
                results[n][side].append(row)
    summary = summarize(results, ranks, sides)
    if args.json:
        config = {k: getattr(args, k) for k in ("launches", "model_mib", "layers", "batch", "bucket_mib", "warmup",
                                                 "steps", "python", "library")}
        print(json.dumps({"config": config, "ranks": ranks, "sides": sides, "seconds": time.monotonic() - started,
                          "summary": {str(n): v for n, v in summary.items()},
                          "launches": {str(n): v for n, v in results.items()}}))
        return
    print_tables(args, results, ranks, sides, summary)


if __name__ == "__main__":
    main()
