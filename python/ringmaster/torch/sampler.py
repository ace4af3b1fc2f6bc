"""``ResumableSampler``: a data-parallel batch sampler whose position survives restarts and resizes.

Each epoch is a permutation of ``range(dataset_len)`` shuffled by ``random.Random(f"{seed}:{epoch}")``
(the standard library's generator, identical on every machine and Python version). Global batch k of
an epoch is ``perm[k*G:(k+1)*G]`` (G = ``global_batch``); data-parallel rank r of D takes slice r of
it (``G/D`` ids). With ``drop_last=False`` the epoch's last, short batch is filled up with ids from the
start of the same permutation, so every batch has G ids. Iteration is endless: epochs follow each
other, so ``for step, batch in zip(range(start, steps), loader)`` is the training loop.

The position is global (epoch and sample cursor in it), so a job that resumes with another
data-parallel size continues the same global order: every global batch is trained exactly once.

Position and read-ahead: a DataLoader with workers pulls indices ahead of what the training loop
consumed. So the position that counts is the *step*: ``state_dict_for_step(step)`` is the position
after ``step`` global batches (the ``Checkpointer`` calls it with the step passed to ``save``), and
``set_step(step)`` makes the next iterator start after ``step`` batches. Plain ``state_dict()``
records how far iteration has handed out batches — exact only without read-ahead (``num_workers=0``).

Give the DataLoader a generator of its own for a bit-identical resume:
``DataLoader(dataset, batch_sampler=sampler, generator=torch.Generator().manual_seed(seed))``. Creating a
DataLoader iterator draws its base seed from ``generator``, by default torch's global generator — whose
state the checkpoint restores — so after ``restore`` that one draw would shift every later random
number (dropout) against the uninterrupted run.
"""

from __future__ import annotations

import random
from typing import Any, Dict, Iterator, List, Optional, Tuple

__all__ = ["ResumableSampler"]


class ResumableSampler:
    def __init__(self, dataset_len: int, global_batch: int, seed: int = 0, drop_last: bool = True,
                 dp_rank: Optional[int] = None, dp_size: Optional[int] = None):
        if dp_rank is None or dp_size is None:
            from .. import env
            e = env()
            dp_rank = e.dp_rank if dp_rank is None else dp_rank
            dp_size = e.dp_size if dp_size is None else dp_size
        if dataset_len < 1:
            raise ValueError(f"dataset_len {dataset_len} must be at least 1")
        if global_batch < 1:
            raise ValueError(f"global_batch {global_batch} must be at least 1")
        if dp_size < 1 or not 0 <= dp_rank < dp_size:
            raise ValueError(f"dp_rank {dp_rank} must be in 0..<dp_size ({dp_size})")
        if global_batch % dp_size != 0:
            raise ValueError(f"global_batch {global_batch} is not divisible by the data-parallel size {dp_size} — "
                             f"choose a global batch that is a multiple of {dp_size}")
        if drop_last and global_batch > dataset_len:
            raise ValueError(f"global_batch {global_batch} is larger than the dataset ({dataset_len}) with "
                             f"drop_last=True: no batch would be produced")
        self.dataset_len, self.global_batch, self.seed, self.drop_last = dataset_len, global_batch, seed, drop_last
        self.dp_rank, self.dp_size = dp_rank, dp_size
        # The anchor: the position (epoch, cursor) after `anchor_step` global batches.
        self._anchor: Tuple[int, int, int] = (0, 0, 0)
        self._next_step = 0  # where the next iterator starts
        self._cache: Tuple[int, List[int]] = (-1, [])

    # ---- positions -----------------------------------------------------------------------------

    @property
    def batches_per_epoch(self) -> int:
        n, g = self.dataset_len, self.global_batch
        return n // g if self.drop_last else -(-n // g)

    def _batches_left(self, cursor: int) -> int:
        left = self.dataset_len - cursor
        return left // self.global_batch if self.drop_last else -(-left // self.global_batch)

    def position(self, step: int) -> Tuple[int, int]:
        """(epoch, cursor) after ``step`` global batches: the cursor counts samples consumed in the epoch."""
        anchor_step, epoch, cursor = self._anchor
        k = step - anchor_step
        if k < 0:
            raise ValueError(f"step {step} is before step {anchor_step}, where this sampler was restored")
        left = self._batches_left(cursor)
        if k < left:
            return epoch, cursor + k * self.global_batch
        k -= left
        per_epoch = self.batches_per_epoch
        return epoch + 1 + k // per_epoch, (k % per_epoch) * self.global_batch

    def permutation(self, epoch: int) -> List[int]:
        if self._cache[0] != epoch:
            order = list(range(self.dataset_len))
            random.Random(f"{self.seed}:{epoch}").shuffle(order)
            self._cache = (epoch, order)
        return self._cache[1]

    def global_batch_at(self, epoch: int, cursor: int) -> List[int]:
        """The ids of the global batch starting at ``cursor`` of ``epoch``."""
        perm = self.permutation(epoch)
        ids = perm[cursor:cursor + self.global_batch]
        if len(ids) < self.global_batch:  # drop_last=False: fill up from the start of the epoch
            ids = ids + (perm * (self.global_batch // len(perm) + 1))[: self.global_batch - len(ids)]
        return ids

    # ---- iteration -----------------------------------------------------------------------------

    def set_step(self, step: int) -> None:
        """The next iterator starts after ``step`` global batches."""
        self.position(step)  # validates
        self._next_step = step

    def __iter__(self) -> Iterator[List[int]]:
        step = self._next_step
        epoch, cursor = self.position(step)
        share = self.global_batch // self.dp_size
        while True:
            ids = self.global_batch_at(epoch, cursor)
            step += 1
            self._next_step = step
            yield ids[self.dp_rank * share:(self.dp_rank + 1) * share]
            cursor += self.global_batch
            if self._batches_left(cursor) == 0:
                epoch, cursor = epoch + 1, 0

    # ---- state ---------------------------------------------------------------------------------

    def state_dict_for_step(self, step: int) -> Dict[str, Any]:
        """The position after ``step`` global batches (what the Checkpointer saves with step ``step``)."""
        epoch, cursor = self.position(step)
        return {"step": step, "epoch": epoch, "cursor": cursor, "seed": self.seed,
                "global_batch": self.global_batch, "dataset_len": self.dataset_len, "drop_last": self.drop_last}

    def state_dict(self) -> Dict[str, Any]:
        """The position after the batches handed out so far (exact without DataLoader read-ahead)."""
        return self.state_dict_for_step(self._next_step)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continues from a saved position; the next iterator starts right after it. The data-parallel
        rank and size may differ from the saving run's, and so may ``global_batch`` (the cursor counts
        samples). A different seed or dataset length is refused: the order would not be the same."""
        for key, mine in (("seed", self.seed), ("dataset_len", self.dataset_len)):
            if key in state and state[key] != mine:
                raise ValueError(f"the checkpoint's sampler has {key}={state[key]!r}, this one {mine!r} — "
                                 f"resuming would not continue the same sample order")
        epoch, cursor, step = int(state["epoch"]), int(state["cursor"]), int(state.get("step", 0))
        if not 0 <= cursor <= self.dataset_len:
            raise ValueError(f"saved sampler cursor {cursor} is outside 0...{self.dataset_len}")
        if self._batches_left(cursor) == 0:
            epoch, cursor = epoch + 1, 0
        self._anchor = (step, epoch, cursor)
        self._next_step = step

    def global_sample(self, step: int) -> int:
        """Samples consumed in all epochs after ``step`` batches (the manifest's ``dataPosition``)."""
        epoch, cursor = self.position(step)
        return epoch * self.batches_per_epoch * self.global_batch + cursor

    def __repr__(self) -> str:
        return (f"ResumableSampler(dataset_len={self.dataset_len}, global_batch={self.global_batch}, seed={self.seed}, "
                f"dp {self.dp_rank}/{self.dp_size}, next step {self._next_step})")
