#!/usr/bin/env python3
"""Async torch checkpoints: the training thread's stall, and save throughput beside dd.

    scripts/torch_checkpoint_bench.py [--model-mib 84] [--layers 4] [--batch 32] [--steps 60]
                                      [--every 10] [--rounds 2] [--dir DIR] [--python VENV/bin/python]
                                      [--json]

One process (torch.set_num_threads(--threads), default 1) trains the MLP of
scripts/torch_ddp_bench.py (22M float32 parameters by default) with Adam on synthetic data.
Each round runs --steps timed steps without checkpoints (the baseline), then --steps steps with
``ringmaster.torch.Checkpointer(async_save=True).save`` of {model, optimizer} after every
--every-th step; rounds alternate the two phases so drift hits both alike.

Reported, CheckFreq's way: the stall (time ``save`` kept the training thread: waiting for the
previous save + copying the state to CPU memory; ``Checkpointer.stats``) amortised over the
checkpoint interval, as a share of the baseline step time — stall per checkpoint ÷
(every × baseline median step) — with the goal ≤ 3.5 %. Beside it the end-to-end overhead:
the checkpointed phase's mean step (stall included, and the background writer's competition
for the CPU) over the baseline's. Save throughput is the bytes ``torch.save`` wrote ÷ the writer
thread's seconds (serialise, SHA-256, fsync, rename), beside ``dd if=/dev/zero bs=1M
count=<the same MiB> conv=fsync`` into the same folder, timed in the same run.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_PYTHON = os.path.join(os.path.dirname(HERE), "python")
DEFAULT_VENV_PYTHON = "/var/tmp/ringmaster-torch-venv/bin/python"
GOAL = 0.035


def reexec_with_torch(python):
    """Runs this script again under ``python`` when this interpreter has no torch."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    python = python or (DEFAULT_VENV_PYTHON if os.path.exists(DEFAULT_VENV_PYTHON) else None)
    if not python or os.environ.get("RINGMASTER_BENCH_REEXEC"):
        sys.exit("torch_checkpoint_bench: no torch in this Python — pass --python VENV/bin/python "
                 "(scripts/torch-venv.sh makes one)")
    os.environ["RINGMASTER_BENCH_REEXEC"] = "1"  # once: a --python without torch fails instead of looping
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


def dd(folder, mebibytes):
    """Seconds of dd writing ``mebibytes`` MiB of zeros with a final fsync into ``folder``."""
    path = os.path.join(folder, "dd.bin")
    start = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mebibytes}", "conv=fsync"],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - start
    os.remove(path)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-mib", type=float, default=84, help="float32 parameter MiB (default 84: 22M)")
    parser.add_argument("--layers", type=int, default=4, help="square Linear+ReLU layers (default 4)")
    parser.add_argument("--batch", type=int, default=32, help="samples per step (default 32)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per phase (default 60)")
    parser.add_argument("--every", type=int, default=10, help="checkpoint interval in steps (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="baseline + checkpointed phase pairs (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training thread (default 1)")
    parser.add_argument("--dir", default=None, help="folder to write in (default: a temporary one under $TMPDIR)")
    parser.add_argument("--python", default=None, help="Python with torch, when this one has none")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    if min(args.steps, args.every, args.rounds, args.threads, args.batch, args.layers) < 1 or args.warmup < 0:
        parser.error("--steps, --every, --rounds, --threads, --batch, --layers must be ≥ 1")
    if args.every > args.steps:
        parser.error(f"--every {args.every} is more than --steps {args.steps}: no checkpoint would be taken")
    reexec_with_torch(args.python)

    if os.path.isdir(os.path.join(REPO_PYTHON, "ringmaster")):
        sys.path.insert(0, REPO_PYTHON)
    sys.path.insert(0, HERE)
    for name in ("RANK", "WORLD_SIZE", "RINGMASTER_CONTROL", "RINGMASTER_JOB_ID", "RINGMASTER_RESUME_STEP"):
        os.environ.pop(name, None)  # a plain single-process run, whatever the caller's environment
    import torch
    import torch.nn.functional as F
    from ringmaster.torch import Checkpointer
    from torch_ddp_bench import build_model, parameter_count

    torch.set_num_threads(args.threads)
    model, width = build_model(args.model_mib, args.layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.randn(args.batch, width), torch.randn(args.batch, width)

    def step():
        optimizer.zero_grad(set_to_none=False)
        F.mse_loss(model(x), y).backward()
        optimizer.step()

    base = args.dir or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="torch-checkpoint-bench-", dir=base)
    try:
        for _ in range(args.warmup):
            step()
        checkpointer = Checkpointer(folder, keep=2, async_save=True, rank=0, world_size=1)
        baseline, checkpointed, stalls, waits = [], [], [], []
        done = 0
        for _ in range(args.rounds):
            for _ in range(args.steps):
                start = time.perf_counter()
                step()
                baseline.append(time.perf_counter() - start)
            checkpointer.wait()  # no write from the last round runs into the baseline
            for i in range(args.steps):
                start = time.perf_counter()
                step()
                done += 1
                if (i + 1) % args.every == 0:
                    checkpointer.save(done, {"model": model, "optimizer": optimizer})
                    stalls.append(checkpointer.last_stall_seconds)
                    waits.append(checkpointer.last_wait_seconds)
                checkpointed.append(time.perf_counter() - start)
            checkpointer.wait()
        checkpointer.close()
        stats = checkpointer.stats
        per_save = stats.bytes / stats.saves
        mebibytes = math.ceil(per_save / (1 << 20))
        dd_seconds = dd(folder, mebibytes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    step_median = statistics.median(baseline)
    stall_mean = statistics.mean(stalls)
    amortised = stall_mean / (args.every * step_median)
    result = {
        "parameters": parameter_count(width, args.layers), "width": width, "layers": args.layers, "batch": args.batch,
        "threads": args.threads, "every": args.every, "steps": args.steps, "rounds": args.rounds, "dir": base,
        "saves": stats.saves, "bytesPerSave": per_save,
        "baselineStepMedianSeconds": step_median, "baselineStepMeanSeconds": statistics.mean(baseline),
        "checkpointedStepMeanSeconds": statistics.mean(checkpointed),
        "stallMeanSeconds": stall_mean, "stallMaxSeconds": max(stalls),
        "stallMedianSeconds": statistics.median(stalls),
        "waitMeanSeconds": statistics.mean(waits), "copyMeanSeconds": stats.copy_seconds / stats.saves,
        "writeMeanSeconds": stats.write_seconds / stats.saves,
        "stallShareOfInterval": amortised,
        "stallShareOfOneStep": stall_mean / step_median,
        "endToEndOverhead": statistics.mean(checkpointed) / statistics.mean(baseline) - 1,
        "saveGBps": stats.bytes / stats.write_seconds / 1e9,
        "ddMiB": mebibytes, "ddSeconds": dd_seconds, "ddGBps": mebibytes * (1 << 20) / dd_seconds / 1e9,
        "goalMet": amortised <= GOAL,
    }
    if args.json:
        print(json.dumps(result))
        return
    r = result
    print(f"\nAsync checkpoint: MLP {args.layers}×{width}² = {r['parameters'] / 1e6:.1f}M float32 parameters + Adam, "
          f"batch {args.batch}, {args.threads} torch thread(s); a save of {{model, optimizer}} "
          f"({per_save / (1 << 20):.0f} MiB) every {args.every} steps, {r['saves']} saves over {args.rounds} × "
          f"{args.steps} steps, in {base}\n")
    print("| what | value |")
    print("| --- | --- |")
    print(f"| baseline step (median) | {step_median * 1e3:.1f} ms |")
    print(f"| stall per checkpoint: mean (median, max) | {stall_mean * 1e3:.1f} ms ({r['stallMedianSeconds'] * 1e3:.1f}, "
          f"{r['stallMaxSeconds'] * 1e3:.1f}) — copy {r['copyMeanSeconds'] * 1e3:.1f} ms + wait "
          f"{r['waitMeanSeconds'] * 1e3:.1f} ms |")
    print(f"| **stall ÷ ({args.every} × step)** | **{amortised * 100:.2f} %** (goal ≤ {GOAL * 100:.1f} %: "
          f"{'met' if r['goalMet'] else 'NOT met'}) |")
    print(f"| stall ÷ one step | {r['stallShareOfOneStep'] * 100:.0f} % |")
    print(f"| end-to-end: checkpointed mean step ÷ baseline mean step − 1 | {r['endToEndOverhead'] * 100:.1f} % |")
    print(f"| save throughput (bytes ÷ writer seconds, {r['writeMeanSeconds']:.2f} s per save) | "
          f"{r['saveGBps']:.2f} GB/s |")
    print(f"| dd bs=1M count={mebibytes} conv=fsync, same folder | {r['ddGBps']:.2f} GB/s ({dd_seconds:.2f} s) |")
    print(f"| save ÷ dd | {r['saveGBps'] / r['ddGBps'] * 100:.0f} % |")


if __name__ == "__main__":
    main()
