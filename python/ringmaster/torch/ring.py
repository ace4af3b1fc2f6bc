"""A DistributedDataParallel communication hook over Ringmaster's ring all-reduce.

    model = DistributedDataParallel(model)          # gloo process group for DDP's own bookkeeping
    model.register_comm_hook(ring_group(), ring_allreduce_hook)

``ring_group()`` joins the attempt's world through the C ABI once per process and returns its
data-parallel sub-group; ``ring_allreduce_hook`` averages each gradient bucket over that group
in place (pre-divided by the group size, then summed gradient by gradient, so the result does not
depend on DDP's bucket layout) and returns a completed future. Buckets
must be contiguous CPU tensors of float32, float64, float16 or bfloat16.
"""

import os
import threading
from typing import Optional

import torch

from ..collectives import Group
from ..durations import Duration
from ..errors import CollectiveError

__all__ = ["ring_group", "ring_allreduce_hook", "DTYPE_NAMES", "allreduce_tensor", "abort_ring_groups",
           "leave_ring_groups"]

DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.int32: "int32", torch.int64: "int64",
}

_lock = threading.Lock()
_groups: dict = {}  # pid → (world, data); a forked child joins its own


def ring_group(timeout: Optional[Duration] = None) -> Group:
    """This process's data-parallel group (the world is joined on the first call)."""
    with _lock:
        pid = os.getpid()
        if pid not in _groups:
            world = Group.join(timeout=timeout)
            _groups[pid] = (world, world.subgroup("data"))
        return _groups[pid][1]


def abort_ring_groups() -> None:
    """Ends any collective this process is blocked in on its ring groups (from any thread)."""
    with _lock:
        world = _groups.get(os.getpid(), (None, None))[0]
    if world is not None:
        world.abort()


def leave_ring_groups() -> None:
    """Leaves this process's ring groups: the next ``ring_group()`` joins the (new) attempt's world."""
    with _lock:
        world, _ = _groups.pop(os.getpid(), (None, None))
    if world is not None:
        world.close()


def _dtype_name(tensor: torch.Tensor) -> str:
    """The ABI's name of the tensor's dtype, after checking it is contiguous host memory."""
    if tensor.device.type != "cpu":
        raise CollectiveError("invalidArgument", f"the ring collectives reduce host memory; the tensor is on "
                                                 f"{tensor.device} — use DDP's NCCL hook for device tensors")
    if not tensor.is_contiguous():
        raise CollectiveError("invalidArgument", "the tensor is not contiguous — call .contiguous() first")
    dtype = DTYPE_NAMES.get(tensor.dtype)
    if dtype is None:
        raise CollectiveError("invalidArgument", f"dtype {tensor.dtype} is not supported; use one of "
                                                 f"{', '.join(map(str, DTYPE_NAMES))}")
    return dtype


def allreduce_tensor(tensor: torch.Tensor, group: Group, op: str = "sum", timeout: Optional[Duration] = None) -> None:
    """All-reduces a contiguous CPU tensor in place over ``group``."""
    group.allreduce(tensor.data_ptr(), tensor.numel(), _dtype_name(tensor), op, timeout)


def _reduction_parts(bucket, buffer: torch.Tensor):
    """The bucket's gradients, each reduced on its own: an element's place in the ring's segments (so the
    order its N contributions are summed in) then depends only on its place in its own parameter, not on
    how DDP grouped parameters into buckets. DDP rebuilds its buckets after its first iteration — a later
    step after a resume than in an uninterrupted run — so a whole-bucket reduction would round one step
    differently and the resumed run would not be bit-identical. The gradients are views into the buffer
    (DDP's bucket views); should they not be, the buffer is reduced whole."""
    grads = bucket.gradients() if hasattr(bucket, "gradients") else []
    start = buffer.data_ptr()
    end = start + buffer.numel() * buffer.element_size()
    views = [g for g in grads if g.numel() > 0]
    if views and all(start <= g.data_ptr() < end and g.is_contiguous() and g.dtype == buffer.dtype for g in views):
        return views
    return [buffer]


# The return annotation must be the real type, not a string: DDP's register_comm_hook checks it.
def ring_allreduce_hook(state: Optional[Group], bucket) -> torch.futures.Future[torch.Tensor]:
    """DDP comm hook: averages ``bucket.buffer()`` over ``state`` (default: ``ring_group()``)."""
    group = state if state is not None else ring_group()
    tensor = bucket.buffer()
    _dtype_name(tensor)  # checked before the bucket is touched
    if not tensor.is_floating_point():
        raise CollectiveError("invalidArgument", f"gradient bucket of dtype {tensor.dtype} cannot be averaged")
    if group.size > 1:
        tensor.div_(group.size)
        for part in _reduction_parts(bucket, tensor):
            allreduce_tensor(part, group, "sum")
    future: torch.futures.Future = torch.futures.Future()
    future.set_result(tensor)
    return future
