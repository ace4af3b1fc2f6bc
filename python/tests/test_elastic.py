"""In-process rejoin: the requests thread, the elastic loop's rejoin handshake with the agent, the state a
replacement takes from a data-parallel peer over the real ring collectives, and abort of a blocked collective."""

import os
import socket
import threading

import pytest

from ringmaster import requests
from ringmaster.errors import CollectiveError

from .test_collectives import needs_library, run_world

torch = pytest.importorskip("torch")
from ringmaster.torch import elastic  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_requests():
    requests._reset_for_tests()
    yield
    requests._reset_for_tests()


def answer_address(control):
    """The rank's report address, from a report it sent (the agent answers there)."""
    control.sock.settimeout(5)
    data, address = control.sock.recvfrom(65536)
    return data.decode(), address


def test_outside_ringmaster_the_loop_runs_once_and_errors_propagate():
    state = {"model": torch.nn.Linear(2, 2)}
    seen = []
    for attempt in elastic.attempts(state):
        with attempt:
            seen.append(attempt.restore())
    assert seen == [0]
    with pytest.raises(CollectiveError):
        for attempt in elastic.attempts(state):
            with attempt:
                raise CollectiveError("peerLost", "rank 1 is gone")


def test_the_requests_thread_routes_abandon_rejoin_and_checkpoint_now(control):
    import ringmaster
    assert requests.listen()
    calls = []
    requests.on_abandon(lambda: calls.append("aborted"))
    ringmaster.step(3)
    _, address = answer_address(control)
    control.sock.sendto(b"checkpoint-now 5", address)
    control.sock.sendto(b"abandon 1 2500", address)
    assert requests.wait_abandon(5)
    assert requests.abandoned() and requests.abandon_deadline() == 2.5 and calls == ["aborted"]
    assert ringmaster.checkpoint_requested(5)  # read by the thread, answered by checkpoint_requested
    control.sock.sendto(b"rejoin\nRINGMASTER_ATTEMPT=2\nMASTER_PORT=1234", address)
    assert requests.wait_rejoin(5) == {"RINGMASTER_ATTEMPT": "2", "MASTER_PORT": "1234"}
    assert not requests.abandoned()


def test_a_lost_peer_ends_the_attempt_and_the_rank_rejoins_the_next_with_its_environment(control, monkeypatch):
    monkeypatch.setenv(elastic.REJOIN_ENV, "5")
    monkeypatch.setenv("RINGMASTER_ATTEMPT", "1")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    state = {"model": model}
    agent_saw = []

    def agent():
        lines = []
        while not any(line.startswith("step 2") for line in lines):
            line, address = answer_address(control)
            lines.append(line)
        control.sock.sendto(b"abandon 1 5000", address)
        while not lines[-1].startswith("held"):
            lines.append(answer_address(control)[0])
        agent_saw.extend(lines)
        control.sock.sendto(b"rejoin\nRINGMASTER_ATTEMPT=2\nRINGMASTER_RESUME_STEP=2", address)

    thread = threading.Thread(target=agent)
    thread.start()
    attempts = []
    for attempt in elastic.attempts(state):
        with attempt:
            attempts.append((attempt.number, os.environ["RINGMASTER_ATTEMPT"]))
            if attempt.number == 1:
                attempt.step(1)
                attempt.step(2)
                raise CollectiveError("peerLost", "rank 1 closed its connection")
    thread.join(10)
    assert attempts == [(1, "1"), (2, "2")]
    held = [line for line in agent_saw if line.startswith("held")]
    assert held == [f"held 2 {elastic.state_digest(state)}"]


def test_no_abandon_within_the_deadline_re_raises_the_failure(control, monkeypatch):
    monkeypatch.setenv(elastic.REJOIN_ENV, "0.2")
    with pytest.raises(CollectiveError, match="gone"):
        for attempt in elastic.attempts({"model": torch.nn.Linear(1, 1)}):
            with attempt:
                raise CollectiveError("peerLost", "gone")


@needs_library
def test_a_replacement_takes_the_model_optimizer_sampler_and_rng_of_a_peer_that_holds_the_step(tmp_path):
    outs = run_world(tmp_path, 2, """
        import os, torch, ringmaster
        from ringmaster.torch import ResumableSampler, elastic
        e = ringmaster.env()
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
        opt = torch.optim.AdamW(model.parameters(), lr=0.01)
        sampler = ResumableSampler(64, global_batch=8, seed=3)
        state = {"model": model, "optimizer": opt, "sampler": sampler}
        loop = elastic._Loop(state, None)
        if e.rank == 0:  # a survivor: trained 3 steps, holds step 3
            for step in range(3):
                model(torch.randn(2, 4)).sum().backward()
                opt.step()
                opt.zero_grad()
                loop.keep(step + 1)
            torch.randn(5)  # the abandoned step drew from the generator after the report
        else:            # the replacement: fresh
            torch.manual_seed(99)
        os.environ.update(RINGMASTER_RESUME_SOURCE="peers", RINGMASTER_RESUME_STEP="3")
        assert loop.restore() == 3
        print(elastic.state_digest(state), opt.state_dict()["state"][0]["step"].item(), sampler.state_dict(),
              torch.randn(3).tolist())
    """)
    assert len(outs) == 2 and outs[0] == outs[1], outs


@needs_library
def test_abort_ends_a_collective_blocked_on_a_silent_peer(tmp_path):
    done = tmp_path / "rank0-done"
    outs = run_world(tmp_path, 2, """
        import ctypes, os, threading, time, ringmaster
        from ringmaster.collectives import Group
        from ringmaster.errors import CollectiveError
        e = ringmaster.env()
        world = Group.join(timeout="30s")
        if e.rank == 0:
            threading.Timer(0.3, world.abort).start()
            buf = (ctypes.c_float * 1)(1.0)
            start = time.monotonic()
            try:
                world.allreduce(ctypes.addressof(buf), 1, "float32", "sum", timeout="60s")
                print("not aborted")
            except CollectiveError as error:
                print(error.kind, time.monotonic() - start < 30)
            open(DONE, "w").close()
        else:  # silent: never enters the all-reduce, and stays until rank 0 is through
            for _ in range(600):
                if os.path.exists(DONE):
                    break
                time.sleep(0.1)
            print("silent")
        world.close()
    """.replace("DONE", repr(str(done))))
    assert outs[0].split() == ["closed", "True"], outs
