"""Process groups over the C ABI: Ringmaster's TCP ring collectives from Python.

    with Group.join(timeout="60s") as world:          # RANK, WORLD_SIZE, RINGMASTER_RENDEZVOUS, …
        data = world.subgroup("data")                 # also "tensor", "pipeline"
        data.allreduce(t.data_ptr(), t.numel(), "float32", "sum")
        world.barrier(timeout="10s")

Buffers are raw addresses of contiguous host memory (``tensor.data_ptr()``,
``ndarray.ctypes.data``) reduced in place. Timeouts are seconds or duration strings; None uses the
library's default. Every failure raises ``CollectiveError`` with the typed ``kind``. A sub-group is
a handle of its own: closing the world closes its open sub-groups first.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Optional

from . import _abi
from .durations import Duration, seconds
from .errors import CollectiveError

__all__ = ["Group"]


def _timeout_ms(timeout: Optional[Duration]) -> int:
    if timeout is None:
        return 0
    value = seconds(timeout, "collective timeout")
    if value <= 0:
        raise CollectiveError("invalidArgument", f"timeout {timeout!r} must be positive (None: the default)")
    return max(1, int(round(value * 1000)))


def _code(table, value: str, what: str) -> int:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise CollectiveError("invalidArgument", f"unknown {what} {value!r}; expected one of {', '.join(table)}") from None


class Group:
    """A process group handle (the world or a tensor/data/pipeline sub-group)."""

    def __init__(self, handle: int, name: str = "world"):
        self._lib = _abi.library()
        self._handle: Optional[int] = handle
        self.name = name
        self._lock = threading.Lock()
        self._children: "weakref.WeakSet[Group]" = weakref.WeakSet()
        self.rank = int(self._lib.rm_group_rank(handle))
        self.size = int(self._lib.rm_group_size(handle))

    @classmethod
    def join(cls, timeout: Optional[Duration] = None) -> "Group":
        """Joins this attempt's world group from the rank environment."""
        lib = _abi.library()
        out, err = ctypes.c_void_p(), _abi.error_buffer()
        _abi.check(lib.rm_world_join(_timeout_ms(timeout), ctypes.byref(out), err, len(err)), err, "joining the world")
        return cls(out.value, "world")

    def _live(self) -> int:
        if self._handle is None:
            raise CollectiveError("closed", f"the {self.name} group is closed")
        return self._handle

    def subgroup(self, kind: str) -> "Group":
        """The tensor, data or pipeline group this rank belongs to (close it separately, or close this one)."""
        code = _code(_abi.SUBGROUPS, kind, "sub-group kind")
        out, err = ctypes.c_void_p(), _abi.error_buffer()
        _abi.check(self._lib.rm_group_sub(self._live(), code, ctypes.byref(out), err, len(err)), err,
                   f"making the {kind} group")
        child = Group(out.value, kind)
        self._children.add(child)
        return child

    def allreduce(self, address: int, count: int, dtype: str, op: str = "sum",
                  timeout: Optional[Duration] = None) -> None:
        """Reduces ``count`` elements of ``dtype`` at ``address`` in place across the group."""
        self._check_buffer(address, count)
        err = _abi.error_buffer()
        code = self._lib.rm_allreduce(self._live(), address, count, _code(_abi.DTYPES, dtype, "dtype"),
                                      _code(_abi.OPS, op, "reduce op"), _timeout_ms(timeout), err, len(err))
        _abi.check(code, err, f"all-reduce on the {self.name} group")

    def broadcast(self, address: int, count: int, dtype: str, root: int, timeout: Optional[Duration] = None) -> None:
        """Copies ``root``'s ``count`` elements at ``address`` to every rank of the group."""
        self._check_buffer(address, count)
        if not 0 <= root < self.size:
            raise CollectiveError("invalidArgument", f"root {root} is outside 0..<{self.size} of the {self.name} group")
        err = _abi.error_buffer()
        code = self._lib.rm_broadcast(self._live(), address, count, _code(_abi.DTYPES, dtype, "dtype"), root,
                                      _timeout_ms(timeout), err, len(err))
        _abi.check(code, err, f"broadcast on the {self.name} group")

    def barrier(self, timeout: Optional[Duration] = None) -> None:
        """Returns once every rank of the group has entered the barrier."""
        err = _abi.error_buffer()
        _abi.check(self._lib.rm_barrier(self._live(), _timeout_ms(timeout), err, len(err)), err,
                   f"barrier on the {self.name} group")

    @staticmethod
    def _check_buffer(address: int, count: int) -> None:
        if count < 0:
            raise CollectiveError("invalidArgument", f"count {count} must be >= 0")
        if count > 0 and not address:
            raise CollectiveError("invalidArgument", "the buffer address is null")

    def close(self) -> None:
        """Leaves the group (sub-groups made from it first). Idempotent."""
        for child in list(self._children):
            child.close()
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.rm_group_leave(handle)

    def abort(self) -> None:
        """Ends the operation another thread is blocked in on this group (and its sub-groups, for the world)
        and every later one: they raise ``CollectiveError`` of kind ``closed``. Safe from any thread;
        the group must still be closed. A no-op on a closed group."""
        handle = self._handle
        if handle is not None:
            self._lib.rm_group_abort(handle)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Group":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"rank {self.rank} of {self.size}"
        return f"<ringmaster.collectives.Group {self.name}: {state}>"
