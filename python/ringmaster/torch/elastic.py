"""In-process rejoin: a surviving rank keeps its process, its imports and its state across a failure.

    state = {"model": model, "optimizer": opt, "schedule": schedule, "sampler": sampler}
    for attempt in elastic.attempts(state, checkpointer):
        with attempt:                                   # a lost peer ends the attempt here, not the process
            dist.init_process_group("gloo", init_method="env://")
            ddp = DDP(model, broadcast_buffers=False)
            ddp.register_comm_hook(rt.ring_group(), rt.ring_allreduce_hook)
            start = attempt.restore()                   # a checkpoint, or a data-parallel peer's memory
            for step, batch in zip(range(start, steps), loader):
                ...                                     # forward, backward, optimizer step
                attempt.step(step + 1)                  # instead of ringmaster.step: reports and keeps the step

Without a controller that allows it (a job without ``warm: {rejoin: …}``, a plain local run) ``attempts``
yields once and an exception propagates as without it. With it (``RINGMASTER_REJOIN_SECONDS`` in the rank
environment), when a peer is lost:

1. the rank's collectives raise — at once when the peer's process died; when it hangs, the controller's
   ``abandon`` (read by ``ringmaster.requests`` on a thread of its own) aborts the ring groups;
2. ``with attempt`` catches that, destroys the process group, leaves the ring groups and, once the
   controller's ``abandon`` came, answers ``held STEP DIGEST``: the step whose state it holds (the model
   and optimizer are only written by an optimizer step, which runs after every collective of its step, so
   they are the state after the last step reported; the RNG state is the one kept at that report) and a
   digest of its parameters, so that data-parallel replicas are seen to agree;
3. it waits for ``rejoin`` — the new attempt's rank environment — then the loop yields the next attempt:
   the body builds the process group and DDP anew, and ``restore()`` resumes from the step the controller
   chose (``RINGMASTER_RESUME_STEP``). With ``RINGMASTER_RESUME_SOURCE=peers`` the state comes from a
   data-parallel peer of the same pipeline and tensor coordinates that holds that step: the lowest such
   data-parallel rank broadcasts it over the ring collectives to the ranks that do not (a replacement rank
   started in the lost one's place, a survivor a step behind). Otherwise it is the checkpoint's.

A rank that hears no ``abandon`` or no ``rejoin`` within the deadline re-raises the exception that ended
its attempt and exits (the controller then restarts the job cold from its newest committed checkpoint).

A replacement takes its peer's RNG state: a script whose data-parallel ranks draw different random numbers
must derive them from the seed, the rank and the step for the result to match an uninterrupted run.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import sys
import time
from typing import Any, Dict, Iterator, MutableMapping, Optional

import torch

from .. import reports, requests
from ..environment import env as rank_env
from ..errors import CheckpointError, CollectiveError
from . import rng
from .checkpointer import RNG_BLOB, Checkpointer, _unwrap, apply_state
from .ring import abort_ring_groups, allreduce_tensor, leave_ring_groups, ring_group
from .sampler import ResumableSampler

__all__ = ["attempts", "Attempt", "Abandoned", "REJOIN_ENV", "SOURCE_ENV", "state_digest"]

#: Set by the controller when the job allows an in-process rejoin: seconds it waits for this rank's ``held``.
REJOIN_ENV = "RINGMASTER_REJOIN_SECONDS"
#: ``peers`` when the attempt's resume step comes from data-parallel peers' memory, not a checkpoint.
SOURCE_ENV = "RINGMASTER_RESUME_SOURCE"


class Abandoned(RuntimeError):
    """The controller asked this rank to abandon its step (a peer failed): raised at the next ``step``."""


def state_digest(state: MutableMapping[str, Any]) -> str:
    """SHA-256 (16 hex digits) of every module's parameters in ``state``, in order."""
    h = hashlib.sha256()
    for obj in state.values():
        obj = _unwrap(obj)
        if isinstance(obj, torch.nn.Module):
            for p in obj.parameters():
                h.update(p.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _rejoinable(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` can be a lost peer's doing: a collective's error, torch.distributed's, ``Abandoned``."""
    if exc is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return False
    return isinstance(exc, (CollectiveError, Abandoned, RuntimeError))


class Attempt:
    """One attempt's part of the loop: ``with attempt:`` around its body, ``restore()``, ``step(n)``."""

    def __init__(self, loop: "_Loop", number: int):
        self._loop = loop
        self.number = number

    def restore(self) -> int:
        """The step to resume from, with ``state`` loaded: the fresh start (0), the checkpoint's, or —
        after a rejoin — the step the controller chose, from this rank's memory or a peer's."""
        return self._loop.restore()

    def step(self, n: int) -> bool:
        """Reports step ``n`` (``ringmaster.step``) and keeps what this rank holds at it; raises ``Abandoned``
        when the controller asked this rank to abandon its step."""
        self._loop.keep(n)
        if requests.abandoned():
            raise Abandoned(f"the controller asked rank {rank_env().rank} to abandon its step after step {n}")
        return reports.step(n)

    def __enter__(self) -> "Attempt":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        return self._loop.ended(exc)


class _Loop:
    def __init__(self, state: MutableMapping[str, Any], checkpointer: Optional[Checkpointer]):
        self.state = state
        self.checkpointer = checkpointer
        self.held: Optional[int] = None
        self.rng: Optional[Dict[str, Any]] = None
        self.finished = False
        self.failure: Optional[BaseException] = None
        seconds = os.environ.get(REJOIN_ENV)
        self.deadline = float(seconds) if seconds else None
        if self.deadline is not None and requests.listen():
            requests.on_abandon(abort_ring_groups)
        else:
            self.deadline = None

    def keep(self, n: int) -> None:
        self.held = n
        self.rng = rng.capture()

    # ---- restore -------------------------------------------------------------------------------

    def restore(self) -> int:
        e = rank_env()
        if os.environ.get(SOURCE_ENV) == "peers" and e.resume_step is not None:
            step = e.resume_step
            self.from_peers(step)
        elif self.checkpointer is not None:
            step = self.checkpointer.restore(self.state)
        else:
            step = e.resume_step or 0
        self.keep(step)
        return step

    def from_peers(self, step: int) -> None:
        """Every data-parallel group agrees on a root that holds ``step`` and broadcasts its state to the
        ranks that do not; a rank that holds it keeps its own state (and the RNG state kept at the step)."""
        group = ring_group()
        holds = self.held == step and self.rng is not None
        root = torch.tensor([group.rank if holds else group.size], dtype=torch.int64)
        allreduce_tensor(root, group, "min")
        need = torch.tensor([0 if holds else 1], dtype=torch.int64)
        allreduce_tensor(need, group, "max")
        root_rank = int(root.item())
        if root_rank >= group.size:
            raise CheckpointError(f"no data-parallel peer of rank {rank_env().rank} holds step {step} — "
                                  f"the controller should have restarted from a checkpoint")
        if need.item():
            payload = self.serialise(step) if group.rank == root_rank else b""
            length = torch.tensor([len(payload)], dtype=torch.int64)
            group.broadcast(length.data_ptr(), 1, "int64", root_rank)
            words = (int(length.item()) + 7) // 8
            buffer = torch.zeros(words, dtype=torch.int64)
            if group.rank == root_rank:
                buffer.view(torch.uint8)[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
            group.broadcast(buffer.data_ptr(), words, "int64", root_rank)
            if not holds:
                data = bytes(buffer.view(torch.uint8)[: int(length.item())].numpy())
                loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                apply_state(self.state, loaded)
                return
        rng.restore(self.rng)
        for obj in self.state.values():
            if isinstance(_unwrap(obj), ResumableSampler):
                _unwrap(obj).set_step(step)

    def serialise(self, step: int) -> bytes:
        blobs = Checkpointer.entries(step, self.state)
        blobs[RNG_BLOB] = self.rng
        out = io.BytesIO()
        torch.save(blobs, out)
        return out.getvalue()

    # ---- the end of an attempt -------------------------------------------------------------------

    def ended(self, exc: Optional[BaseException]) -> bool:
        if exc is None:
            self.finished = True
            return False
        if self.deadline is None or not _rejoinable(exc):
            return False
        self.failure = exc
        return True

    def leave(self) -> None:
        """Drops what tied this process to the failed attempt: its process group and ring groups."""
        try:
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        except Exception as e:  # a broken group may not destroy cleanly; the next init makes a new one
            print(f"ringmaster: destroying the failed attempt's process group: {e}", file=sys.stderr, flush=True)
        leave_ring_groups()
        gc.collect()  # the failed attempt's DDP reducer (and its autograd hooks) must go before the next one

    def rejoin(self) -> None:
        """Answers ``held`` once the controller's ``abandon`` came, then takes the next attempt's environment;
        re-raises the attempt's failure when either does not come within the deadline."""
        failure = self.failure
        self.leave()
        started = time.monotonic()
        if not requests.wait_abandon(self.deadline):
            raise failure
        step = self.held if self.held is not None else 0
        reports.send(f"held {step} {state_digest(self.state)}")
        waited = time.monotonic() - started
        variables = requests.wait_rejoin(max(0.0, (requests.abandon_deadline() or self.deadline) - waited) + 1.0)
        if variables is None:
            raise failure
        os.environ.update(variables)
        self.failure = None
        print(f"ringmaster: rank {rank_env().rank} rejoins in attempt {rank_env().attempt} "
              f"(held step {step}; resuming from step {rank_env().resume_step})", file=sys.stderr, flush=True)


def attempts(state: MutableMapping[str, Any], checkpointer: Optional[Checkpointer] = None) -> Iterator[Attempt]:
    """The attempts this process takes part in: one, plus one per in-process rejoin."""
    loop = _Loop(state, checkpointer)
    number = 0
    while True:
        number += 1
        yield Attempt(loop, number)
        if loop.finished:
            return
        if loop.failure is None:  # the body left the with block without finishing (a break)
            return
        loop.rejoin()
