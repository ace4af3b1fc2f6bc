"""What a warm interpreter should import before its launch (a job's ``warm: {preload: [ringmaster.torch.warm]}``).

``import torch`` is not all of torch's start-up: the first ``DistributedDataParallel`` construction imports
``torch._dynamo`` and with it about 800 modules (sympy, mpmath, …) — 0.9 s of one core here, 4 s when four
ranks start at once on two cores, all of it inside the DDP constructor where every rank waits for the slowest.
This module imports those ahead, with ``torch.distributed`` and the package's DDP hook, and nothing more (no
process group, no thread pool, no device is touched): a script started in the interpreter then runs as if
started fresh.
"""

import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (imported lazily by DistributedDataParallel.__init__)
import torch.distributed  # noqa: F401
import torch.nn.parallel  # noqa: F401

from . import Checkpointer, ResumableSampler, ring_allreduce_hook, ring_group  # noqa: F401
