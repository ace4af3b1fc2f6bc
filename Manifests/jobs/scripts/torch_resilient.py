"""A small causal transformer language model trained with DDP under Ringmaster's fault manager.

Everything that decides the result is a pure function of the seed and the step, so a run that is
killed, hung, moved to another node or restarted from a checkpoint ends with the parameters of an
uninterrupted run, bit for bit:

- the corpus is generated from ``--seed`` (sequences of a random first-order Markov chain);
- the data order is ``ringmaster.torch.ResumableSampler`` (global batch k is a pure function of k);
- ``ringmaster.torch.Checkpointer(async_save=True)`` saves the model, AdamW's moments, the LR
  schedule, the sampler's position and the RNG states every ``--checkpoint-every`` steps, and
  ``restore`` continues from the committed step Ringmaster names (``RINGMASTER_RESUME_STEP``);
- gradients are averaged by ``ringmaster.torch.ring_allreduce_hook`` over Ringmaster's collectives
  (DDP and the gloo process group only set the job up: the parameter broadcast at construction).
  The hook reduces gradient by gradient, so an element's summation order does not depend on where
  DDP puts its parameter in a bucket — DDP rebuilds its buckets in the first iteration of every
  process, which is step 0 in an uninterrupted run but the resume step after a restart.
- dropout draws from torch's global generator, which the checkpoint restores; the DataLoader gets
  its own generator, so creating its iterator after ``restore`` draws nothing from the global one;
- the loop runs inside ``ringmaster.torch.elastic.attempts``: in a job with ``warm: {rejoin: …}`` a rank
  that loses a peer keeps its process and rejoins the next attempt, and a replacement rank takes the
  state of a data-parallel peer's memory instead of the checkpoint's.

Flags: ``--steps N --checkpoint-every K`` (0: never) ``--print-hash`` (``parameter-hash rank R
<sha256 of every parameter's bytes in order>`` at the end) ``--sample-log PATH`` (appends ``step S
rank R attempt A ids i,j,k`` per step, one write per line) ``--eval-every N --eval-seconds S
--eval-timeout T`` (every N steps every rank evaluates inside ``ringmaster.section("eval", T)`` and
stays silent S seconds: longer than a stall timeout, but not a hang).

    python torch_resilient.py --steps 100 --checkpoint-every 10     # also runs outside Ringmaster
"""

import argparse
import hashlib
import math
import os
import sys
import tempfile
import time

# Whether this process is a warm interpreter (the job's `warm: {preload: [torch]}`): torch came in before the script.
WARM_START = "torch" in sys.modules
_LAP = [time.monotonic()]


def lap() -> float:
    """Seconds since the previous lap (the start-up profile line)."""
    now = time.monotonic()
    seconds = now - _LAP[0]
    _LAP[0] = now
    return seconds

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

import ringmaster
import ringmaster.torch as rt

VOCAB, CONTEXT = 32, 32
# DDP's buffers (a constant mask) synchronised at construction only; torch 2.13 renamed the option.
NO_BUFFER_SYNC = ({"forward_sync_buffers": False} if "forward_sync_buffers" in DDP.__init__.__code__.co_varnames
                  else {"broadcast_buffers": False})
WIDTH, HEADS, LAYERS, HIDDEN = 32, 2, 2, 64


class Corpus(torch.utils.data.Dataset):
    """``size`` sequences of a seeded Markov chain over ``VOCAB`` tokens; item i is (x, y, i)."""

    def __init__(self, size: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        # Each token has a few likely successors: a language with something to learn.
        logits = torch.randn(VOCAB, VOCAB, generator=g) * 3
        transitions = torch.softmax(logits, dim=1)
        tokens = torch.empty(size, CONTEXT + 1, dtype=torch.long)
        tokens[:, 0] = torch.randint(VOCAB, (size,), generator=g)
        for t in range(1, CONTEXT + 1):
            tokens[:, t] = torch.multinomial(transitions[tokens[:, t - 1]], 1, generator=g).squeeze(1)
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int):
        return self.tokens[i, :-1], self.tokens[i, 1:], i


class Block(nn.Module):
    def __init__(self, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(WIDTH)
        self.attn = nn.MultiheadAttention(WIDTH, HEADS, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(WIDTH)
        self.mlp = nn.Sequential(nn.Linear(WIDTH, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, WIDTH))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x)))


class TinyGPT(nn.Module):
    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.position = nn.Parameter(torch.zeros(CONTEXT, WIDTH))
        self.blocks = nn.ModuleList(Block(dropout) for _ in range(LAYERS))
        self.ln = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)
        self.register_buffer("mask", torch.triu(torch.full((CONTEXT, CONTEXT), float("-inf")), diagonal=1),
                             persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.position[: tokens.shape[1]]
        mask = self.mask[: tokens.shape[1], : tokens.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln(x))


def parameter_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--global-batch", type=int, default=32)
    p.add_argument("--dataset", type=int, default=2048, help="sequences in the corpus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--print-hash", action="store_true")
    p.add_argument("--sample-log", metavar="PATH")
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--eval-seconds", type=float, default=0.0)
    p.add_argument("--eval-timeout", default="60s", help="the eval section's timeout (seconds or a duration)")
    args = p.parse_args()
    profile = {"imports": lap()}

    env = ringmaster.env()
    if "MASTER_ADDR" not in os.environ:  # a plain local run: one process
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29512", RANK="0", WORLD_SIZE="1")
    torch.manual_seed(args.seed)

    dataset = Corpus(args.dataset, args.seed)
    model = TinyGPT()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = 10
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
    sampler = rt.ResumableSampler(len(dataset), global_batch=args.global_batch, seed=args.seed)
    # Its own generator: the iterator's base seed is not drawn from the global generator the checkpoint restores.
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                         generator=torch.Generator().manual_seed(args.seed))
    directory = env.checkpoint_dir or os.path.join(tempfile.gettempdir(), "ringmaster-torch-resilient")
    ckpt = rt.Checkpointer(directory, async_save=True)
    state = {"model": model, "optimizer": opt, "schedule": schedule, "sampler": sampler}
    log = os.open(args.sample_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if args.sample_log else None
    loss = torch.zeros(())
    # One attempt, plus one per in-process rejoin (a job with `warm: {rejoin: …}`): a lost peer ends the
    # attempt at the `with`, and this process joins the next one with its imports and its state.
    for attempt in rt.elastic.attempts(state, ckpt):
        with attempt:
            if attempt.number > 1:  # the profile of a rejoin starts when the new attempt's environment came
                lap()
            env = ringmaster.env()
            dist.init_process_group("gloo", init_method="env://")
            profile["process group"] = lap()
            # Broadcasts rank 0's parameters over gloo; the buffers (a constant mask) are not synchronised per
            # step, so gloo is not used after this and only the ring collectives see a lost peer.
            ddp = DDP(model, **NO_BUFFER_SYNC)
            profile["model + DDP"] = lap()
            if env.world_size > 1 or env.inside_ringmaster:
                ddp.register_comm_hook(rt.ring_group(), rt.ring_allreduce_hook)
            profile["ring group"] = lap()
            start = attempt.restore()
            profile["restore"] = lap()
            print(f"rank {env.rank}/{env.world_size} attempt {env.attempt}: steps {start}..{args.steps}"
                  f"{' (rejoined in process)' if attempt.number > 1 else ' (warm interpreter)' if WARM_START else ''}",
                  flush=True)
            for step, (x, y, ids) in zip(range(start, args.steps), loader):
                logits = ddp(x)
                loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                if log is not None:  # one write per line: a killed rank leaves whole lines
                    os.write(log, f"step {step} rank {env.rank} attempt {env.attempt} ids {','.join(map(str, ids.tolist()))}\n"
                             .encode())
                attempt.step(step + 1)
                ringmaster.metric("loss", loss.item())
                done = step + 1
                if step == start:  # where a (re)start's time goes, after its first step
                    profile["first step"] = lap()
                    print(f"rank {env.rank} attempt {env.attempt} start-up {sum(profile.values()):.2f} s: "
                          + ", ".join(f"{k} {v:.2f}" for k, v in profile.items()), flush=True)
                    profile = {}
                # Periodic, or the step a controller's checkpoint-now names (a Slurm time limit is near).
                if args.checkpoint_every and (done % args.checkpoint_every == 0 or ringmaster.checkpoint_requested(done)):
                    ckpt.save(done, state)
                if args.eval_every and done % args.eval_every == 0 and done < args.steps:
                    with ringmaster.section("eval", args.eval_timeout):
                        model.eval()
                        with torch.no_grad():
                            x, y, _ = dataset[0:8]
                            held_out = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).item()
                        model.train()
                        time.sleep(args.eval_seconds)  # a long evaluation: silent for longer than the stall timeout
                    print(f"rank {env.rank}: eval after step {done}: loss {held_out:.4f} ({args.eval_seconds:g} s)", flush=True)
    ckpt.close()
    if log is not None:
        os.close(log)
    env = ringmaster.env()
    print(f"rank {env.rank}: trained to step {args.steps}, last loss {loss.item():.4f}, "
          f"checkpoint stall {ckpt.stats.stall_seconds:.3f} s over {ckpt.stats.saves} saves", flush=True)
    if args.print_hash:
        print(f"parameter-hash rank {env.rank} {parameter_hash(model)}", flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    status = main()
    # Skip interpreter teardown once everything is written: torch's gloo threads can abort in a
    # destructor at exit ("terminate called without an active exception", seen in about one of four
    # short 2-rank runs of the DDP benchmark), which would turn a finished rank into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
