"""Ringmaster for Python ranks: the rank environment, rank reports and sections.

Standard library only; ``ringmaster.torch`` (checkpoints, resumable sampler, DDP ring hook)
imports torch, and ``ringmaster.collectives`` loads the C ABI library on first use.

    import ringmaster
    e = ringmaster.env()              # rank, world_size, dp/pp/tp coordinates, resume step, …
    ringmaster.step(n)                # progress (and liveness for hang detection)
    ringmaster.metric("loss", 2.31)
    if step % every == 0 or ringmaster.checkpoint_requested(n):   # checkpoint-now before a Slurm time limit
        save(n)
    with ringmaster.section("eval", "10m"):
        evaluate()
"""

from .environment import RankEnvironment, env
from .errors import CheckpointError, CollectiveError, RankEnvironmentError
from .reports import checkpoint, checkpoint_requested, dropped, metric, send, stats, step
from .sections import section

__version__ = "0.1.0"

__all__ = [
    "RankEnvironment", "env", "RankEnvironmentError", "CollectiveError", "CheckpointError",
    "step", "metric", "checkpoint", "checkpoint_requested", "send", "dropped", "stats", "section",
]
