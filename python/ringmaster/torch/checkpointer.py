"""``Checkpointer``: step checkpoints of a PyTorch rank in the Swift ``Checkpointing`` shard format.

``save(step, state)`` writes this rank's shard ``<dir>/step-<N>/rank-<R>/`` (see
``ringmaster.shard_format``): one ``torch.save`` file per entry of ``state`` (``model.bin``,
``optimizer.bin``, …), the rank's RNG states (``ringmaster.rng.bin``) and a small description
(``ringmaster.torch.json``), each listed with its SHA-256 in ``MANIFEST.json`` — so Ringmaster's
verifier checks a Python shard like a Swift one. Then it reports ``checkpoint N``. A run without a
controller (no ``RINGMASTER_CONTROL``, world size 1) writes ``COMMITTED`` itself and prunes to
``keep`` committed steps.

``state`` maps names to objects with ``state_dict()``/``load_state_dict()`` (modules — a
DistributedDataParallel model is saved unwrapped, so checkpoints move between DDP and plain runs —
optimizers, LR schedulers, a ``ResumableSampler``), tensors (restored in place) or plain values
(restored by replacing the dict entry). ``step`` is the number of completed steps; ``restore``
returns it, as the index of the next step to run.

With ``async_save=True`` the training thread only copies the state to CPU memory; a background
thread writes it. At most one save is in flight: the next ``save`` first waits for it
(back-pressure; ``last_wait_seconds`` and ``stats.wait_seconds``), then copies, so at most one
snapshot is held besides the live state. A process killed mid-write leaves a hidden partial folder
and nothing that looks complete. ``close()`` waits for the last save and raises its failure.

A save that cannot be written (a full disk: ``CheckpointError`` naming the file) leaves no partial shard
and reports ``checkpoint-failed N REASON``, so the controller records why the step is not committed. It
is raised (by ``save``, or with ``async_save`` by the next ``save``/``wait``/``close``) unless
``continue_on_write_failure=True``: then it is printed on stderr, counted in ``stats.failed_saves`` and
training goes on (a failure then resumes from the newest committed step).

``restore(state)`` verifies every SHA-256 of the shard before touching ``state``; a shard that fails
prints the bad file on stderr and exits with status 86, so the controller falls back to an older step.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import json
import os
import sys
import threading
import time
import weakref
from typing import Any, Callable, Dict, Mapping, MutableMapping, Optional

import torch

from .. import reports, shard_format
from ..environment import env as rank_env
from ..errors import CheckpointError
from . import rng
from ._background import BackgroundWriter
from .sampler import ResumableSampler

__all__ = ["Checkpointer", "CheckpointStats"]

RNG_BLOB = "ringmaster.rng"
META_BLOB = "ringmaster.torch.json"
FORMAT = "ringmaster-torch/1"
_RESERVED = "ringmaster."


@dataclasses.dataclass
class CheckpointStats:
    saves: int = 0
    bytes: int = 0
    #: Time spent writing shards (on the background thread with async_save).
    write_seconds: float = 0.0
    #: Time the training thread waited for the previous save (async back-pressure).
    wait_seconds: float = 0.0
    #: Time the training thread spent copying state to CPU memory (async only).
    copy_seconds: float = 0.0
    #: Everything ``save`` kept the training thread: wait + copy (+ write when synchronous).
    stall_seconds: float = 0.0
    #: Saves that could not be written (a full disk), and the newest one's step.
    failed_saves: int = 0
    last_failed_step: Optional[int] = None


def _unwrap(obj: Any) -> Any:
    """The module inside DistributedDataParallel / DataParallel, so names carry no ``module.`` prefix."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return obj.module if isinstance(obj, wrappers) else obj


def _same_buffer(old: Any, value: torch.Tensor) -> bool:
    return (isinstance(old, torch.Tensor) and old.device.type == "cpu" and old.dtype == value.dtype
            and old.shape == value.shape and old.layout == torch.strided and value.layout == torch.strided)


def _cpu_copy(value: Any, reuse: Any = None) -> Any:
    """A deep copy with every tensor copied to CPU memory (the snapshot an async save writes).

    ``reuse`` is the previous snapshot, already written: a tensor of the same shape and dtype at the same
    place is copied into rather than allocated afresh. Fresh pages cost the copy most of its time (seen:
    78 ms into new memory against 48 ms into reused memory for a 251 MiB state)."""
    if isinstance(value, torch.Tensor):
        if _same_buffer(reuse, value):
            with torch.no_grad():
                return reuse.copy_(value.detach())
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        out = copy.copy(value)  # keeps the type and attributes (a state dict's `_metadata`)
        old = reuse if isinstance(reuse, Mapping) else {}
        for k, v in value.items():
            out[k] = _cpu_copy(v, old.get(k))
        return out
    if isinstance(value, Mapping):
        old = reuse if isinstance(reuse, Mapping) else {}
        return {k: _cpu_copy(v, old.get(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        old = reuse if isinstance(reuse, (list, tuple)) and len(reuse) == len(value) else [None] * len(value)
        items = [_cpu_copy(v, o) for v, o in zip(value, old)]
        return type(value)(*items) if isinstance(value, tuple) and hasattr(value, "_fields") else type(value)(items)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    return copy.deepcopy(value)


def apply_state(state: MutableMapping[str, Any], loaded: Mapping[str, Any]) -> None:
    """Loads ``loaded`` (what ``Checkpointer.entries`` made, from a shard or a peer) into ``state``'s objects,
    and the RNG states when it holds them."""
    for name in list(state):
        obj = _unwrap(state[name])
        value = loaded[name]
        if hasattr(obj, "load_state_dict") and hasattr(obj, "state_dict"):
            obj.load_state_dict(value)
        elif isinstance(obj, torch.Tensor):
            with torch.no_grad():
                obj.copy_(value)
        else:
            state[name] = value
    if RNG_BLOB in loaded:
        rng.restore(loaded[RNG_BLOB])


_live: "weakref.WeakSet[Checkpointer]" = weakref.WeakSet()


@atexit.register
def _finish_saves_at_exit() -> None:
    for checkpointer in list(_live):
        try:
            checkpointer.wait()
        except BaseException as e:  # noqa: B902 — report, do not mask the exit
            print(f"ringmaster: the last checkpoint save failed: {e}", file=sys.stderr)


class Checkpointer:
    def __init__(self, directory: Optional[str] = None, keep: int = 3, async_save: bool = False,
                 rank: Optional[int] = None, world_size: Optional[int] = None,
                 commit_locally: Optional[bool] = None, weights_only: bool = True,
                 continue_on_write_failure: bool = False):
        e = rank_env()
        directory = directory or e.checkpoint_dir
        if not directory:
            raise CheckpointError("no checkpoint directory: pass Checkpointer(directory=...) or run under Ringmaster "
                                  "with `checkpoint.dir` in the job manifest (RINGMASTER_CHECKPOINT_DIR)")
        if keep < 1:
            raise ValueError(f"keep={keep} must be at least 1")
        self.directory = os.path.abspath(directory)
        self.keep = keep
        self.env = e
        self.rank = e.rank if rank is None else rank
        self.world_size = e.world_size if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is outside 0..<{self.world_size}")
        #: Write COMMITTED and prune here: only for world size 1 without a controller.
        self.commit_locally = (e.control is None and self.world_size == 1) if commit_locally is None else commit_locally
        #: torch.load(weights_only=...) at restore; False allows arbitrary pickled objects in ``state``.
        self.weights_only = weights_only
        #: A save that cannot be written is dropped (reported, counted, printed) instead of raised.
        self.continue_on_write_failure = continue_on_write_failure
        self.stats = CheckpointStats()
        self.last_stall_seconds = 0.0
        self.last_wait_seconds = 0.0
        self._lock = threading.Lock()
        self._writer = BackgroundWriter(f"checkpoint-writer-{self.rank}") if async_save else None
        #: The last async snapshot (written once the writer is drained), whose buffers the next one reuses.
        self._snapshot: Any = None
        #: Called after each blob file is durable (crash tests stop the process there).
        self._after_file: Optional[Callable[[str], None]] = None
        _live.add(self)

    @property
    def async_save(self) -> bool:
        return self._writer is not None

    # ---- save ----------------------------------------------------------------------------------

    @staticmethod
    def entries(step: int, state: Mapping[str, Any]) -> Dict[str, Any]:
        """What a shard of ``step`` holds, by name (live objects' state dicts, not copies), with the RNG states."""
        return Checkpointer._entries(step, state)[0]

    @staticmethod
    def _entries(step: int, state: Mapping[str, Any]):
        """(blobs, kinds, data position) of ``state`` at ``step``; blobs still reference live objects."""
        blobs: Dict[str, Any] = {}
        kinds: Dict[str, str] = {}
        position = 0
        for name, obj in state.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"checkpoint entry names must be non-empty strings, not {name!r}")
            if name.startswith(_RESERVED):
                raise ValueError(f"checkpoint entry {name!r}: names starting with {_RESERVED!r} are reserved")
            obj = _unwrap(obj)
            if isinstance(obj, ResumableSampler):
                blobs[name], kinds[name] = obj.state_dict_for_step(step), "state_dict"
                position = position or obj.global_sample(step)
            elif hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
                blobs[name], kinds[name] = obj.state_dict(), "state_dict"
            elif isinstance(obj, torch.Tensor):
                blobs[name], kinds[name] = obj.detach(), "tensor"
            else:
                blobs[name], kinds[name] = obj, "value"
        blobs[RNG_BLOB] = rng.capture()
        return blobs, kinds, position

    def save(self, step: int, state: Mapping[str, Any]) -> None:
        """Saves this rank's shard of ``step`` (the count of completed steps), then reports it."""
        if isinstance(step, bool) or int(step) != step or step < 0:
            raise ValueError(f"step {step!r} must be an integer >= 0")
        step = int(step)
        start = time.monotonic()
        if self._writer is None:
            waited = copied = 0.0
            self._persist(step, *self._entries(step, state))
        else:
            # Back-pressure first, then the copy: one snapshot in memory at a time besides the live state.
            waited = self._writer.drain()
            copy_start = time.monotonic()
            blobs, kinds, position = self._entries(step, state)
            # The previous snapshot is written (drained above): its tensors take this one's bytes.
            blobs = _cpu_copy(blobs, self._snapshot)
            self._snapshot = blobs
            copied = time.monotonic() - copy_start
            waited += self._writer.submit(lambda: self._persist(step, blobs, kinds, position))
        stall = time.monotonic() - start
        with self._lock:
            self.stats.wait_seconds += waited
            self.stats.copy_seconds += copied
            self.stats.stall_seconds += stall
            self.last_wait_seconds, self.last_stall_seconds = waited, stall

    def _persist(self, step: int, blobs: Dict[str, Any], kinds: Dict[str, str], position: int) -> None:
        try:
            self._write(step, blobs, kinds, position)
        except CheckpointError as e:
            # The partial shard is gone already; the controller is told why the step will not be committed.
            reports.checkpoint_failed(step, str(e))
            with self._lock:
                self.stats.failed_saves += 1
                self.stats.last_failed_step = step
            if not self.continue_on_write_failure:
                raise
            print(f"ringmaster: rank {self.rank}: checkpoint step {step} not saved: {e}", file=sys.stderr, flush=True)

    def _write(self, step: int, blobs: Dict[str, Any], kinds: Dict[str, str], position: int) -> None:
        start = time.monotonic()
        meta = {"format": FORMAT, "step": step, "entries": kinds, "torch": torch.__version__,
                "dpSize": self.env.dp_size, "ppSize": self.env.pp_size, "tpSize": self.env.tp_size}
        total = 0
        with shard_format.ShardWriter(self.directory, step, self.rank, self.world_size, self._after_file) as shard:
            shard.add_bytes(META_BLOB, json.dumps(meta, sort_keys=True).encode())
            for name in sorted(blobs):
                with shard.add_stream(name) as f:
                    torch.save(blobs[name], f)
                total += f.bytes
            shard.finish(data_position=position)
        if self.commit_locally:
            # A controller-less run's marker names no job (CommitMarker.Marker.job is the controller's identity).
            shard_format.write_commit_marker(self.directory, step, self.world_size)
            shard_format.prune(self.directory, self.keep)
        reports.checkpoint(step)
        with self._lock:
            self.stats.saves += 1
            self.stats.bytes += total
            self.stats.write_seconds += time.monotonic() - start

    def wait(self) -> None:
        """Waits for the save in flight; raises its failure."""
        if self._writer is not None:
            self._writer.drain()

    def close(self) -> None:
        """Waits for the last save, stops the writer thread; raises a failed save's error."""
        _live.discard(self)
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    # ---- restore -------------------------------------------------------------------------------

    def newest_committed_step(self) -> Optional[int]:
        """The newest committed step, for a plain local run that resumes by itself."""
        committed = shard_format.committed_steps(self.directory)
        return committed[-1] if committed else None

    def source_rank(self, step: int, step_path: str) -> int:
        """The rank whose shard this rank reads: its own, or, when the step was written with another
        data-parallel size, the rank with the same tensor and pipeline coordinates (replicas hold the
        same parameters; the sampler's position is global)."""
        e = self.env
        world = self.world_size
        root = os.path.dirname(step_path)
        written = shard_format.commit_world_size(root, step)
        if written is None:
            written = len(shard_format.rank_folders(step_path)) or world
        if written == world:
            return self.rank
        tp_pp = e.tp_size * e.pp_size
        if written % tp_pp != 0:
            raise CheckpointError(
                f"step {step} in {step_path} was written by {written} ranks, which is not a multiple of "
                f"tensor × pipeline = {e.tp_size} × {e.pp_size}: only the data-parallel size may change on resume")
        old_dp = written // tp_pp
        return e.tp_rank + e.tp_size * (e.dp_rank % old_dp + old_dp * e.pp_rank)

    def restore(self, state: MutableMapping[str, Any], step: Optional[int] = None) -> int:
        """Loads the resume step into ``state``; returns it (0 on a fresh start, ``state`` untouched).

        The step is ``step`` or ``RINGMASTER_RESUME_STEP``; its folder ``RINGMASTER_RESUME_DIR`` (when
        the step came from the environment) or ``<directory>/step-<N>``. Exits with status 86 when the
        shard is missing or fails verification."""
        if step is None:
            step = self.env.resume_step
            step_path = self.env.resume_dir if step is not None else None
        else:
            step_path = None
        if step is None:
            return 0
        step_path = step_path or shard_format.step_dir(self.directory, step)
        source = self.source_rank(step, step_path)
        folder = f"{step_path}/rank-{source}"
        try:
            manifest = shard_format.verify_shard(folder, step, source)
        except (shard_format.ShardCorrupt, shard_format.ShardMissing) as e:
            print(f"ringmaster: {e}", file=sys.stderr, flush=True)
            sys.exit(shard_format.CORRUPT_EXIT_CODE)
        names = {f["name"] for f in manifest["files"]}
        missing = [name for name in state if name not in names]
        if missing:
            raise CheckpointError(f"step {step} in {folder} has no entry {', '.join(map(repr, missing))} "
                                  f"(it has {', '.join(sorted(n for n in names if not n.startswith(_RESERVED)))}) — "
                                  f"save and restore the same names")
        loaded = {name: self._load(folder, name) for name in list(state) + [RNG_BLOB] if name in names}
        apply_state(state, loaded)
        return step

    def _load(self, folder: str, name: str) -> Any:
        path = f"{folder}/{shard_format.file_name(name)}"
        try:
            return torch.load(path, map_location="cpu", weights_only=self.weights_only)
        except Exception as e:
            text = str(e).lower()
            if not self.weights_only or ("weights_only" not in text and "weights only" not in text):
                raise
            raise CheckpointError(f"{path} holds objects torch.load(weights_only=True) refuses — pass "
                                  f"Checkpointer(weights_only=False) if this checkpoint directory is trusted") from e

    def __repr__(self) -> str:
        mode = "async" if self.async_save else "sync"
        return f"Checkpointer({self.directory!r}, rank {self.rank} of {self.world_size}, keep={self.keep}, {mode})"
