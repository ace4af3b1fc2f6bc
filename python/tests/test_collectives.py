"""The C ABI binding. Library lookup and error mapping run everywhere; the collectives themselves need
``RINGMASTER_LIBRARY`` (the built libRingmasterC.so) and are skipped without it."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from ringmaster import CollectiveError, _abi

from .helpers import child_environment
from .rendezvous import Rendezvous

needs_library = pytest.mark.skipif(not os.environ.get("RINGMASTER_LIBRARY"),
                                   reason="RINGMASTER_LIBRARY (path to libRingmasterC.so) is not set")


def test_error_codes_map_to_kinds():
    e = CollectiveError.from_code(2, "rank 3 went away")
    assert (e.kind, e.code, e.message) == ("peerLost", 2, "rank 3 went away") and "peerLost" in str(e)
    assert [CollectiveError.from_code(c, "").kind for c in range(1, 9)] == [
        "timeout", "peerLost", "mismatch", "refused", "joinTimedOut", "invalidArgument", "closed", "other"]
    assert CollectiveError.from_code(42, "x").kind == "other"


def test_explicit_library_path_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("RINGMASTER_LIBRARY", str(tmp_path / "nope.so"))
    with pytest.raises(_abi.LibraryNotFound, match="RINGMASTER_LIBRARY"):
        _abi.find_library()


@pytest.mark.parametrize("where", [".", "../lib"])
def test_library_next_to_the_ringmaster_executable(monkeypatch, tmp_path, where):
    monkeypatch.delenv("RINGMASTER_LIBRARY", raising=False)
    (tmp_path / "bin").mkdir()
    exe = tmp_path / "bin" / "ringmaster"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    lib = os.path.normpath(tmp_path / "bin" / where / _abi.LIBRARY_NAME)
    os.makedirs(os.path.dirname(lib), exist_ok=True)
    open(lib, "w").close()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert _abi.find_library() == lib


def test_no_library_says_how_to_point_at_it(monkeypatch, tmp_path):
    monkeypatch.delenv("RINGMASTER_LIBRARY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(_abi.LibraryNotFound, match="set RINGMASTER_LIBRARY"):
        _abi.find_library()


def test_core_imports_neither_torch_nor_the_library():
    code = "import sys, ringmaster, ringmaster.collectives, ringmaster.shard_format; " \
           "print(sorted(m for m in ('torch', 'numpy', 'ctypes') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=child_environment()).stdout
    assert "torch" not in out and "numpy" not in out


# ---- with the library ----------------------------------------------------------------------------

@needs_library
def test_abi_version():
    assert _abi.library().rm_abi_version() == _abi.ABI_VERSION


@needs_library
def test_join_without_a_rank_environment_is_a_typed_error():
    from ringmaster.collectives import Group
    with pytest.raises(CollectiveError) as info:
        Group.join(timeout="2s")
    assert info.value.kind == "invalidArgument" and info.value.message


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_world(tmp_path, world, script, tp=1, timeout=120):
    """Runs `script` as `world` rank processes joined through a test rendezvous; returns their stdouts."""
    rendezvous = Rendezvous(world)
    path = tmp_path / "rank.py"
    path.write_text(textwrap.dedent(script))
    procs = []
    try:
        for rank in range(world):
            env = child_environment(rendezvous.environment(rank, tp=tp))
            procs.append(subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        results = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        rendezvous.close()
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    return [out for out, _ in results]


@needs_library
def test_allreduce_broadcast_barrier_and_subgroups(tmp_path):
    outs = run_world(tmp_path, 4, """
        import ctypes, ringmaster
        from ringmaster.collectives import Group
        e = ringmaster.env()
        with Group.join(timeout="30s") as world:
            assert (world.rank, world.size) == (e.rank, 4)
            buf = (ctypes.c_float * 3)(e.rank, 1.0, 2.0)
            world.allreduce(ctypes.addressof(buf), 3, "float32", "sum", timeout="10s")
            assert list(buf) == [6.0, 4.0, 8.0], list(buf)
            data = world.subgroup("data")          # tp=2: ranks {0,2} and {1,3}
            assert (data.rank, data.size) == (e.dp_rank, 2)
            n = (ctypes.c_int64 * 1)(e.rank)
            data.allreduce(ctypes.addressof(n), 1, "int64", "max")
            assert n[0] == 2 + e.tp_rank, n[0]
            b = (ctypes.c_double * 2)(float(e.rank), 0.5) if e.rank == 1 else (ctypes.c_double * 2)()
            world.broadcast(ctypes.addressof(b), 2, "float64", root=1)
            assert list(b) == [1.0, 0.5]
            world.barrier(timeout="10s")
        print("ok")
    """, tp=2)
    assert [o.strip() for o in outs] == ["ok"] * 4


@needs_library
def test_ddp_with_the_ring_hook_matches_a_single_process(tmp_path):
    pytest.importorskip("torch")
    outs = run_world(tmp_path, 2, """
        import os, torch, torch.distributed as dist
        import ringmaster
        from ringmaster.torch import ring_group, ring_allreduce_hook
        e = ringmaster.env()
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["TEST_MASTER_PORT"])
        dist.init_process_group("gloo", rank=e.rank, world_size=e.world_size)
        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
        model.register_comm_hook(ring_group(timeout="30s"), ring_allreduce_hook)
        x = torch.arange(8.0).reshape(2, 4)[e.rank:e.rank + 1]
        model(x).sum().backward()
        print(model.module.weight.grad.tolist())
        dist.destroy_process_group()
    """.replace('os.environ["TEST_MASTER_PORT"]', repr(str(free_port()))))
    import torch
    torch.manual_seed(0)
    single = torch.nn.Linear(4, 1)
    single(torch.arange(8.0).reshape(2, 4)).sum().div(2).backward()
    expected = str(single.weight.grad.tolist())
    assert [o.strip() for o in outs] == [expected, expected]


DDP_TRAIN = """
    import os, sys, torch, torch.distributed as dist
    import ringmaster
    from ringmaster.torch import ring_group, ring_allreduce_hook
    e = ringmaster.env()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=THE_PORT)
    dist.init_process_group("gloo", rank=e.rank, world_size=e.world_size)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)).double()
    model = torch.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=0.01)
    if USE_HOOK:
        model.register_comm_hook(ring_group(timeout="30s"), ring_allreduce_hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(100 + e.rank)
    for step in range(10):
        x = torch.randn(8, 16, generator=g, dtype=torch.float64)
        loss = (model(x) - x.sum(1, keepdim=True).sin()).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    print(repr(flat.tolist()))
    dist.destroy_process_group()
"""


@needs_library
def test_ddp_float64_over_the_ring_matches_gloo_within_rounding_and_is_the_same_on_every_rank(tmp_path):
    pytest.importorskip("torch")
    runs = {}
    for hook in (True, False):
        script = DDP_TRAIN.replace("THE_PORT", repr(str(free_port()))).replace("USE_HOOK", str(hook))
        outs = run_world(tmp_path, 3, script)
        runs[hook] = [eval(o.strip()) for o in outs]
    ring, gloo = runs[True], runs[False]
    assert ring[0] == ring[1] == ring[2], "the ring left the ranks with different parameters"
    assert len(ring[0]) == len(gloo[0]) == 16 * 64 + 64 + 64 + 1
    worst = max(abs(a - b) for a, b in zip(ring[0], gloo[0]))
    # Ten SGD steps in float64: only the order of the additions differs (pre-divided sum vs sum then divide).
    assert worst < 1e-12, worst


RESUMABLE_RING = """
    import hashlib, os, torch, torch.distributed as dist
    import ringmaster
    from ringmaster.torch import Checkpointer, ring_group, ring_allreduce_hook
    from ringmaster import shard_format
    e = ringmaster.env()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=THE_PORT)
    dist.init_process_group("gloo", rank=e.rank, world_size=e.world_size)
    torch.manual_seed(0)
    # 2 × 256 × 256 weights: 0.5 MiB of gradients, well past the ring's small-buffer threshold (128 KiB).
    net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256))
    model = torch.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=0.3)
    model.register_comm_hook(ring_group(timeout="30s"), ring_allreduce_hook)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ckpt = Checkpointer(CKPT, commit_locally=False)
    start = ckpt.restore({"model": model, "optimizer": opt}, step=RESUME)
    for step in range(start, STOP):
        g = torch.Generator().manual_seed(1000 * step + e.rank)
        x = torch.randn(16, 256, generator=g)
        loss = (model(x) - x).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        if step + 1 == 4:
            ckpt.save(4, {"model": model, "optimizer": opt})
    ckpt.close()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    print(hashlib.sha256(flat.numpy().tobytes()).hexdigest())
    dist.destroy_process_group()
"""


@needs_library
def test_a_resume_through_the_ring_hook_is_bit_identical_although_ddp_rebuilds_its_buckets(tmp_path):
    """DDP rebuilds its buckets after its first iteration: step 0 in an uninterrupted run, the resume step
    after a restart. Reducing gradient by gradient keeps every element's summation order the same."""
    pytest.importorskip("torch")

    def run(ckpt, resume, stop):
        script = (RESUMABLE_RING.replace("THE_PORT", repr(str(free_port()))).replace("CKPT", repr(str(ckpt)))
                  .replace("RESUME", repr(resume)).replace("STOP", str(stop)))
        return [o.strip() for o in run_world(tmp_path, 3, script)]

    uninterrupted = run(tmp_path / "a", None, 8)
    assert len(set(uninterrupted)) == 1
    run(tmp_path / "b", None, 4)
    assert run(tmp_path / "b", 4, 8) == uninterrupted


@needs_library
def test_a_peer_killed_mid_operation_raises_peer_lost_in_the_survivors_within_the_deadline(tmp_path):
    rendezvous = Rendezvous(3)
    path = tmp_path / "rank.py"
    path.write_text(textwrap.dedent("""
        import ctypes, os, signal, sys, time
        import ringmaster
        from ringmaster.collectives import Group
        from ringmaster.errors import CollectiveError
        e = ringmaster.env()
        world = Group.join(timeout="30s")
        buf = (ctypes.c_float * 1024)()
        world.allreduce(ctypes.addressof(buf), 1024, "float32", "sum", timeout="10s")
        print("joined", flush=True)
        if e.rank == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        start = time.monotonic()
        try:
            world.allreduce(ctypes.addressof(buf), 1024, "float32", "sum", timeout="20s")
        except CollectiveError as error:
            print(error.kind, round(time.monotonic() - start, 3), flush=True)
            sys.exit(0)
        sys.exit(1)
    """))
    procs = [subprocess.Popen([sys.executable, str(path)], env=child_environment(rendezvous.environment(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(3)]
    try:
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        rendezvous.close()
    assert procs[2].returncode == -9
    for p, (out, err) in zip(procs[:2], results[:2]):
        assert p.returncode == 0, err
        kind, seconds = out.split()[-2:]
        # Seen from the dead peer's closed connection, not from the 20 s deadline.
        assert kind == "peerLost" and float(seconds) < 20, out


def test_the_test_rendezvous_speaks_the_wire_protocol():
    rendezvous = Rendezvous(2)
    host, port = rendezvous.address.split(":")
    replies = [None, None]

    def join(rank):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(f"RMJOIN 1 attempt=1 rank={rank} world=2 host=- port={7000 + rank} timeoutms=5000 "
                      f"token=test-token\n".encode())
            replies[rank] = s.makefile("r").read()

    import threading
    threads = [threading.Thread(target=join, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    rendezvous.close()
    assert replies == ["OK 2\n0 127.0.0.1 7000\n1 127.0.0.1 7001\n"] * 2


def test_the_shipped_library_loads_without_a_swift_toolchain(tmp_path):
    """The release library deployed to nodes (`make cabi`) carries Swift's runtime: it needs only libc,
    libm, libstdc++ and libgcc_s, and loads in a process whose environment knows nothing of Swift."""
    shipped = os.environ.get("RINGMASTER_SHIPPED_LIBRARY")
    if not shipped:
        pytest.skip("RINGMASTER_SHIPPED_LIBRARY not set (make test builds it with `make cabi`)")
    needed = subprocess.run(["ldd", shipped], capture_output=True, text=True, check=True).stdout
    names = sorted(line.split()[0] for line in needed.splitlines() if "=>" in line)
    assert not [n for n in names if "swift" in n or "Foundation" in n or "dispatch" in n], names
    assert set(names) <= {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"}, names
    probe = "import ctypes, sys; print(ctypes.CDLL(sys.argv[1]).rm_abi_version())"
    out = subprocess.run([sys.executable, "-c", probe, shipped], env={"PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
