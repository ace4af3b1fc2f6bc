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
