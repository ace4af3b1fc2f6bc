"""The rank environment (the design's "Rank environment" contract) as one frozen value.

``env()`` reads torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, …) and
Ringmaster's own (``RINGMASTER_*``). Outside Ringmaster every variable may be unset: the
defaults describe a single-process run (rank 0 of 1), so ``python train.py`` works unchanged.
A variable that is set but malformed, or that contradicts another one, raises
``RankEnvironmentError`` naming it. Ranks follow the Megatron-LM order:
``rank = tp + T * (dp + D * pp)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .errors import RankEnvironmentError

__all__ = ["RankEnvironment", "env"]


@dataclass(frozen=True)
class RankEnvironment:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node_rank: int = 0
    tp_rank: int = 0
    tp_size: int = 1
    pp_rank: int = 0
    pp_size: int = 1
    dp_rank: int = 0
    dp_size: int = 1
    job_id: Optional[str] = None
    attempt: int = 1
    checkpoint_dir: Optional[str] = None
    #: Committed step to resume from; None on a fresh start.
    resume_step: Optional[int] = None
    #: ``<checkpoint_dir>/step-<resume_step>``; None on a fresh start.
    resume_dir: Optional[str] = None
    #: Device indices of this rank (``RINGMASTER_ACCELERATORS``), as strings.
    accelerators: Tuple[str, ...] = ()
    #: The agent's Unix datagram socket for rank reports; None in a plain local run.
    control: Optional[str] = None
    #: host:port of the attempt's rendezvous.
    rendezvous: Optional[str] = None
    #: ``TORCHELASTIC_RESTART_COUNT``: attempts before this one.
    restart_count: int = 0
    #: True when a Ringmaster agent started this process (``RINGMASTER_JOB_ID`` or ``RINGMASTER_CONTROL`` set).
    inside_ringmaster: bool = False

    @property
    def is_fresh_start(self) -> bool:
        return self.resume_step is None


class _Reader:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def text(self, name: str) -> Optional[str]:
        value = self.environ.get(name)
        return value if value not in (None, "") else None

    def int(self, name: str, default: Optional[int], minimum: int, hint: str) -> Optional[int]:
        raw = self.text(name)
        if raw is None:
            return default
        if not re.fullmatch(r"\s*-?[0-9]+\s*", raw):
            raise RankEnvironmentError(name, raw, "is not an integer", hint)
        value = int(raw)
        if value < minimum:
            raise RankEnvironmentError(name, raw, f"must be >= {minimum}", hint)
        return value


_SET_BY = "Ringmaster's agent sets it; unset it to run as a single local process"


def env(environ: Optional[Mapping[str, str]] = None) -> RankEnvironment:
    """Parses the rank environment from ``environ`` (default: ``os.environ``)."""
    r = _Reader(os.environ if environ is None else environ)
    world = r.int("WORLD_SIZE", 1, 1, _SET_BY)
    rank = r.int("RANK", 0, 0, _SET_BY)
    if rank >= world:
        raise RankEnvironmentError("RANK", str(rank), f"is outside 0..<{world} (WORLD_SIZE={world})",
                                   "RANK must be smaller than WORLD_SIZE")
    local_world = r.int("LOCAL_WORLD_SIZE", 1, 1, _SET_BY)
    local_rank = r.int("LOCAL_RANK", 0, 0, _SET_BY)
    if local_rank >= max(local_world, 1) and r.text("LOCAL_WORLD_SIZE") is not None:
        raise RankEnvironmentError("LOCAL_RANK", str(local_rank), f"is outside 0..<{local_world} (LOCAL_WORLD_SIZE)",
                                   "LOCAL_RANK must be smaller than LOCAL_WORLD_SIZE")
    node_rank = r.int("NODE_RANK", None, 0, _SET_BY)
    if node_rank is None:
        node_rank = r.int("GROUP_RANK", 0, 0, _SET_BY)

    tp = r.int("RINGMASTER_TP_SIZE", 1, 1, _SET_BY)
    pp = r.int("RINGMASTER_PP_SIZE", 1, 1, _SET_BY)
    dp_default = world // (tp * pp) if world % (tp * pp) == 0 else world
    dp = r.int("RINGMASTER_DP_SIZE", dp_default, 1, _SET_BY)
    if dp * pp * tp != world:
        raise RankEnvironmentError(
            "RINGMASTER_DP_SIZE", str(dp),
            f"RINGMASTER_DP_SIZE × RINGMASTER_PP_SIZE × RINGMASTER_TP_SIZE = {dp}×{pp}×{tp} = {dp * pp * tp}, "
            f"but WORLD_SIZE = {world}", "the three sizes must multiply to the world size")
    expected = {"RINGMASTER_TP_RANK": rank % tp, "RINGMASTER_DP_RANK": (rank // tp) % dp,
                "RINGMASTER_PP_RANK": rank // (tp * dp)}
    coords = {}
    for name, want in expected.items():
        got = r.int(name, want, 0, _SET_BY)
        if got != want:
            raise RankEnvironmentError(
                name, str(got), f"disagrees with RANK {rank} in Megatron order (expected {want})",
                "rank = tp + TP_SIZE × (dp + DP_SIZE × pp)")
        coords[name] = got

    resume_step = r.int("RINGMASTER_RESUME_STEP", None, 0, "a committed step number, or empty on a fresh start")
    checkpoint_dir = r.text("RINGMASTER_CHECKPOINT_DIR")
    resume_dir = r.text("RINGMASTER_RESUME_DIR")
    if resume_dir is None and resume_step is not None and checkpoint_dir is not None:
        resume_dir = os.path.join(checkpoint_dir, f"step-{resume_step}")
    accelerators = tuple(a.strip() for a in (r.text("RINGMASTER_ACCELERATORS") or "").split(",") if a.strip())
    job_id = r.text("RINGMASTER_JOB_ID")
    control = r.text("RINGMASTER_CONTROL")
    return RankEnvironment(
        rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world, node_rank=node_rank,
        tp_rank=coords["RINGMASTER_TP_RANK"], tp_size=tp, pp_rank=coords["RINGMASTER_PP_RANK"], pp_size=pp,
        dp_rank=coords["RINGMASTER_DP_RANK"], dp_size=dp, job_id=job_id,
        attempt=r.int("RINGMASTER_ATTEMPT", 1, 1, _SET_BY), checkpoint_dir=checkpoint_dir,
        resume_step=resume_step, resume_dir=resume_dir, accelerators=accelerators, control=control,
        rendezvous=r.text("RINGMASTER_RENDEZVOUS"),
        restart_count=r.int("TORCHELASTIC_RESTART_COUNT", 0, 0, _SET_BY),
        inside_ringmaster=job_id is not None or control is not None)
