"""A small data-parallel PyTorch job using the ringmaster package end to end: it resumes from the
committed step Ringmaster names (RINGMASTER_RESUME_STEP), reads data through a ResumableSampler,
reports steps and loss, and checkpoints every CHECKPOINT_EVERY steps in the shard format.

    python examples/train_resumable.py [STEPS] [CHECKPOINT_EVERY]      # also runs outside Ringmaster

With RINGMASTER_LIBRARY set, gradients travel over Ringmaster's ring collectives (the DDP comm hook);
otherwise over gloo.
"""

import os
import sys
import tempfile

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset

import ringmaster
from ringmaster.torch import Checkpointer, ResumableSampler, ring_allreduce_hook, ring_group


def main() -> int:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    e = ringmaster.env()
    if "MASTER_ADDR" not in os.environ:  # a plain local run
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
    dist.init_process_group("gloo", rank=e.rank, world_size=e.world_size)
    torch.manual_seed(0)
    data = torch.randn(4096, 16)
    dataset = TensorDataset(data, data.sum(dim=1, keepdim=True).sin())
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)))
    if os.environ.get("RINGMASTER_LIBRARY"):
        model.register_comm_hook(ring_group(timeout="60s"), ring_allreduce_hook)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = ResumableSampler(len(dataset), global_batch=64, seed=1)
    state = {"model": model, "optimizer": optimizer, "sampler": sampler}
    checkpointer = Checkpointer(e.checkpoint_dir or os.path.join(tempfile.gettempdir(), "ringmaster-example"),
                                async_save=True)
    start = checkpointer.restore(state)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=1)
    for step, (x, y) in zip(range(start, steps), loader):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ringmaster.step(step + 1)
        if e.dp_rank == 0:
            ringmaster.metric("loss", loss.item())
        # Periodic, or the step a controller's checkpoint-now names (a Slurm time limit is near).
        if (step + 1) % every == 0 or ringmaster.checkpoint_requested(step + 1):
            checkpointer.save(step + 1, state)
    checkpointer.close()
    dist.destroy_process_group()
    print(f"rank {e.rank}: trained steps {start}..{steps}, checkpoint stall {checkpointer.stats.stall_seconds:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
