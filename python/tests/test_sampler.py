import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from ringmaster.torch import ResumableSampler  # noqa: E402

N, G = 50, 6


def global_batches(steps, **kw):
    it = iter(ResumableSampler(N, G, seed=3, dp_rank=0, dp_size=1, **kw))
    return [next(it) for _ in range(steps)]


def run_ranks(state, dp_size, steps):
    """Steps of a dp_size-rank job resumed from `state`: per step the ranks' ids concatenated in rank order."""
    iters = []
    for r in range(dp_size):
        s = ResumableSampler(N, G, seed=3, dp_rank=r, dp_size=dp_size)
        if state is not None:
            s.load_state_dict(state)
        iters.append(iter(s))
    rows = [sum((next(it) for it in iters), []) for _ in range(steps)]
    return rows, s


def test_batches_are_a_permutation_per_epoch():
    per_epoch = N // G  # 8 batches, 2 samples dropped
    batches = global_batches(2 * per_epoch)
    for e in range(2):
        ids = sum(batches[e * per_epoch:(e + 1) * per_epoch], [])
        assert len(ids) == len(set(ids)) == per_epoch * G
    assert batches[:per_epoch] != batches[per_epoch:]  # another order each epoch


def test_drop_last_false_fills_the_last_batch():
    batches = global_batches(9, drop_last=False)
    assert all(len(b) == G for b in batches)
    assert set(sum(batches, [])) == set(range(N))


def test_resume_across_dp_size_changes_covers_every_global_batch_once():
    total = 30  # crosses three epochs
    reference = global_batches(total)
    seen, state, step = [], None, 0
    for dp_size, until in ((2, 5), (1, 11), (3, 20), (6, 23), (2, total)):
        rows, sampler = run_ranks(state, dp_size, until - step)
        seen += rows
        state = sampler.state_dict_for_step(until)
        step = until
    assert seen == reference


def test_position_is_a_function_of_the_step():
    s = ResumableSampler(N, G, seed=3, dp_rank=0, dp_size=1)
    assert s.position(0) == (0, 0) and s.position(7) == (0, 42) and s.position(8) == (1, 0)
    s.load_state_dict(s.state_dict_for_step(10))
    assert s.position(10) == (1, 12) and s.position(18) == (2, 12)
    with pytest.raises(ValueError, match="before step 10"):
        s.position(9)


def test_indivisible_global_batch_names_both():
    with pytest.raises(ValueError, match="global_batch 6 is not divisible by the data-parallel size 4"):
        ResumableSampler(N, 6, dp_rank=0, dp_size=4)


def test_other_seed_is_refused():
    s = ResumableSampler(N, G, seed=1, dp_rank=0, dp_size=1)
    with pytest.raises(ValueError, match="seed"):
        s.load_state_dict(ResumableSampler(N, G, seed=2, dp_rank=0, dp_size=1).state_dict())


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_resume_ignores_read_ahead(workers):
    data = list(range(N))
    reference = [b.tolist() for _, b in zip(range(12), DataLoader(data, batch_sampler=ResumableSampler(
        N, G, seed=3, dp_rank=0, dp_size=1), num_workers=workers))]
    sampler = ResumableSampler(N, G, seed=3, dp_rank=0, dp_size=1)
    first = [b.tolist() for _, b in zip(range(5), DataLoader(data, batch_sampler=sampler, num_workers=workers))]
    state = sampler.state_dict_for_step(5)  # what the Checkpointer saves at step 5
    resumed = ResumableSampler(N, G, seed=3, dp_rank=0, dp_size=1)
    resumed.load_state_dict(state)
    rest = [b.tolist() for _, b in zip(range(5, 12), DataLoader(data, batch_sampler=resumed, num_workers=workers))]
    assert first + rest == reference


def test_set_step_realigns_a_new_iterator():
    s = ResumableSampler(N, G, seed=3, dp_rank=0, dp_size=1)
    it = iter(s)
    ahead = [next(it) for _ in range(4)]
    s.set_step(2)
    assert next(iter(s)) == ahead[2]
