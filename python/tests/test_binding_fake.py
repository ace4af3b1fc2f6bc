"""The Python binding against a fake C library with the same ABI (tests/fake_abi.c), compiled here when a C
compiler exists: signatures, handles, error buffers and the DDP hook's arithmetic, without the Swift build."""

import ctypes
import os
import shutil
import subprocess

import pytest

from ringmaster import CollectiveError, _abi

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def fake_library(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the fake ABI library")
    out = str(tmp_path_factory.mktemp("fake") / _abi.LIBRARY_NAME)
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", out, os.path.join(HERE, "fake_abi.c")], check=True)
    return out


@pytest.fixture
def fake(fake_library, monkeypatch):
    monkeypatch.setenv("RINGMASTER_LIBRARY", fake_library)
    monkeypatch.setenv("RINGMASTER_RENDEZVOUS", "127.0.0.1:1")
    monkeypatch.setattr(_abi, "_library", None)
    lib = _abi.library()
    lib.rm_fake_live_groups.restype = ctypes.c_int32
    yield lib
    assert lib.rm_fake_live_groups() == 0  # every handle was left


def test_group_operations(fake):
    from ringmaster.collectives import Group
    with Group.join(timeout="5s") as world:
        assert (world.rank, world.size) == (0, 2)
        buf = (ctypes.c_float * 3)(1.0, 2.0, 3.0)
        world.allreduce(ctypes.addressof(buf), 3, "float32")
        assert list(buf) == [2.0, 4.0, 6.0]
        world.allreduce(ctypes.addressof(buf), 3, "float32", "max")
        assert list(buf) == [2.0, 4.0, 6.0]
        data = world.subgroup("data")
        n = (ctypes.c_int64 * 1)(21)
        data.allreduce(ctypes.addressof(n), 1, "int64", timeout=3)
        assert n[0] == 42
        world.broadcast(ctypes.addressof(n), 1, "int64", root=1)
        world.barrier(timeout="1s")
        with pytest.raises(CollectiveError) as info:
            world.allreduce(ctypes.addressof(buf), 3, "float32", timeout="1ms")
        assert info.value.kind == "timeout" and "timed out after 1ms" in info.value.message
        with pytest.raises(CollectiveError, match="unknown dtype"):
            world.allreduce(ctypes.addressof(buf), 3, "float8")
        with pytest.raises(CollectiveError, match="unknown sub-group kind"):
            world.subgroup("expert")
        with pytest.raises(CollectiveError, match="root 2 is outside"):
            world.broadcast(ctypes.addressof(n), 1, "int64", root=2)
    assert world.closed and data.closed  # closing the world left its sub-group too
    with pytest.raises(CollectiveError) as info:
        world.barrier()
    assert info.value.kind == "closed"


def test_join_failure_carries_code_and_message(fake, monkeypatch):
    from ringmaster.collectives import Group
    monkeypatch.setenv("FAKE_RM_FAIL", "5")
    with pytest.raises(CollectiveError) as info:
        Group.join()
    assert (info.value.kind, info.value.code) == ("joinTimedOut", 5) and "FAKE_RM_FAIL" in info.value.message


def test_ring_hook_averages_the_bucket(fake, monkeypatch):
    torch = pytest.importorskip("torch")
    from ringmaster.collectives import Group
    from ringmaster.torch import ring_allreduce_hook

    class Bucket:
        def __init__(self, t):
            self.t = t

        def buffer(self):
            return self.t

    with Group.join() as group:
        grads = torch.tensor([2.0, -4.0, 6.0], dtype=torch.float64)
        future = ring_allreduce_hook(group, Bucket(grads))
        # Two identical replicas: (g/2 + g/2) == g, reduced in place.
        assert future.wait() is grads and grads.tolist() == [2.0, -4.0, 6.0]
        with pytest.raises(CollectiveError, match="not contiguous"):
            ring_allreduce_hook(group, Bucket(torch.ones(4, 4, dtype=torch.float32).t()))
