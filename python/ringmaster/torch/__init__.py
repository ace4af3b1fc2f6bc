"""Ringmaster for PyTorch ranks: step checkpoints in Ringmaster's shard format, a resumable
data-parallel batch sampler, a DDP communication hook over the ring collectives, and the loop helper of
an in-process rejoin (``elastic.attempts``).

    from ringmaster.torch import Checkpointer, ResumableSampler, ring_group, ring_allreduce_hook
"""

from . import elastic
from .checkpointer import Checkpointer, CheckpointStats
from .ring import allreduce_tensor, ring_allreduce_hook, ring_group
from .sampler import ResumableSampler

__all__ = ["elastic", "Checkpointer", "CheckpointStats", "ResumableSampler", "ring_group", "ring_allreduce_hook",
           "allreduce_tensor"]
