"""Killed and resumed runs see exactly the data of an uninterrupted run.

A small DDP job (gloo, CPU) logs the global sample ids of every step. It is SIGKILLed at three points —
between checkpoints, in the middle of an async save, right after a commit — and resumed each time
from the newest committed step, as the controller would (RINGMASTER_RESUME_STEP). The steps of the
final history, each taken from the last attempt that ran it, must be the uninterrupted run's, none
skipped or repeated, and the final parameters must be bit-identical. A second case shrinks data
parallelism from 2 ranks to 1 at the resume: every global batch is still seen exactly once.
"""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

torch = pytest.importorskip("torch")

from .helpers import child_environment  # noqa: E402
from ringmaster import shard_format as sf  # noqa: E402

TRAIN = textwrap.dedent("""
    import hashlib, os, sys, time, torch, torch.distributed as dist
    from torch.utils.data import DataLoader, TensorDataset
    import ringmaster
    from ringmaster.torch import Checkpointer, ResumableSampler
    steps, every, log, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    e = ringmaster.env()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=e.rank, world_size=e.world_size)
    torch.manual_seed(0)
    ids = torch.arange(512, dtype=torch.float64).unsqueeze(1)
    dataset = TensorDataset(ids, torch.randn(512, 8))
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sampler = ResumableSampler(len(dataset), global_batch=16, seed=3)
    # A large extra entry makes each async write take a while, so a kill can land inside one.
    ballast = torch.zeros(int(os.environ.get("BALLAST", "0")))
    state = {"model": model, "optimizer": opt, "sampler": sampler, "ballast": ballast}
    ckpt = Checkpointer(async_save=True, commit_locally=e.world_size == 1)
    start = ckpt.restore(state)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=int(os.environ.get("WORKERS", "0")))
    attempt = os.environ.get("ATTEMPT", "1")
    with open(log, "a") as out:
        for step, (sample_ids, x) in zip(range(start, steps), loader):
            loss = model(x).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
            out.write(f"{attempt} {step + 1} {e.dp_rank} {','.join(str(int(i)) for i in sample_ids.flatten())}\\n")
            out.flush()
            print(f"step {step + 1}", flush=True)
            if (step + 1) % every == 0:
                ckpt.save(step + 1, state)
                print(f"saving {step + 1}", flush=True)
            if os.environ.get("SLOW"):
                time.sleep(float(os.environ["SLOW"]))
    ckpt.close()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    print("hash", hashlib.sha256(flat.numpy().tobytes()).hexdigest(), flush=True)
""")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, world, extra, steps=60, every=10):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = child_environment({"RANK": str(rank), "WORLD_SIZE": str(world), "RINGMASTER_DP_RANK": str(rank),
                                 "RINGMASTER_DP_SIZE": str(world), "RINGMASTER_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
                                 "OMP_NUM_THREADS": "1", **extra})
        procs.append(subprocess.Popen([sys.executable, str(script), str(steps), str(every), str(tmp_path / "samples"),
                                       port], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def wait_for_line(proc, prefix):
    """Reads the process's stdout until a line starts with `prefix` (the process keeps running)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited before printing {prefix!r}: {proc.stderr.read()}")
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} within 120 s")


def finish(procs):
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return [o for o, _ in outs]


def history(path):
    """step → {dp rank: ids} from the last attempt that ran each step."""
    by_step = {}  # step → (attempt, {rank: ids})
    for line in open(path):
        attempt, step, rank, ids = line.split()
        newest, ranks = by_step.get(int(step), (0, {}))
        if int(attempt) > newest:
            newest, ranks = int(attempt), {}
        ranks[int(rank)] = ids
        by_step[int(step)] = (newest, ranks)
    return {s: [ids for _, ids in sorted(ranks.items())] for s, (_, ranks) in sorted(by_step.items())}


def global_batches(path):
    return {s: sorted(int(i) for ids in parts for i in ids.split(",")) for s, parts in history(path).items()}


def reference(tmp_path, world=1):
    ref = tmp_path / "reference"
    ref.mkdir()
    out = finish(launch(ref, world, {}))
    return ref, [line for o in out for line in o.splitlines() if line.startswith("hash")]


def test_three_kills_one_inside_an_async_save_resume_to_the_uninterrupted_samples_and_parameters(tmp_path):
    ref, ref_hash = reference(tmp_path)
    run = tmp_path / "killed"
    run.mkdir()
    ckpt = str(run / "ckpt")
    # 64 MiB of ballast in every shard makes each async write take a while.
    ballast = {"BALLAST": str(16 << 20)}
    # 1: between checkpoints (after step 14); 2: inside the async save of step 30; 3: once step 40 is committed.
    kills = ["step 14", "saving 30", "committed 40"]
    for attempt, where in enumerate(kills, start=1):
        committed = sf.committed_steps(ckpt)
        resume = {"RINGMASTER_RESUME_STEP": str(committed[-1])} if committed else {}
        [proc] = launch(run, 1, {"ATTEMPT": str(attempt), **resume, **ballast})
        if where.startswith("committed"):
            deadline = time.monotonic() + 120
            while 40 not in sf.committed_steps(ckpt) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            assert 40 in sf.committed_steps(ckpt)
        else:
            wait_for_line(proc, where)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if where.startswith("saving"):
            # The kill landed while step 30 was being written: it is not committed.
            assert 30 not in sf.committed_steps(ckpt), "the async save finished before the kill; make BALLAST larger"
    committed = sf.committed_steps(ckpt)
    assert committed[-1] == 40
    [proc] = launch(run, 1, {"ATTEMPT": "4", "RINGMASTER_RESUME_STEP": str(committed[-1]), **ballast})
    out = finish([proc])
    assert [l for l in out[0].splitlines() if l.startswith("hash")] == ref_hash
    assert history(run / "samples") == history(ref / "samples")
    assert sorted(history(run / "samples")) == list(range(1, 61))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_data_parallel_shrink_at_the_resume_still_sees_every_global_batch_once(tmp_path, workers):
    ref, _ = reference(tmp_path)
    run = tmp_path / "shrunk"
    run.mkdir()
    two = launch(run, 2, {"ATTEMPT": "1", "WORKERS": str(workers)})
    wait_for_line(two[0], "step 25")
    # The saves are asynchronous: on a loaded machine step 25 can come before step 20's shards are
    # published. Wait for both (what their `checkpoint` reports would tell the controller).
    deadline = time.monotonic() + 120
    while sf.rank_folders(sf.step_dir(str(run / "ckpt"), 20)) != [0, 1]:
        assert time.monotonic() < deadline, "step 20's shards were not published within 120 s"
        time.sleep(0.05)
    for p in two:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    # Both ranks wrote checkpoint 20; commit it as the controller would.
    sf.write_commit_marker(str(run / "ckpt"), 20, 2)
    finish(launch(run, 1, {"ATTEMPT": "2", "RINGMASTER_RESUME_STEP": "20", "WORKERS": str(workers)}))
    assert global_batches(run / "samples") == global_batches(ref / "samples")
    assert sorted(global_batches(run / "samples")) == list(range(1, 61))
