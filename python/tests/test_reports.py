import os

import pytest

import ringmaster
from ringmaster.durations import seconds


def test_step_metric_checkpoint_lines(control):
    assert ringmaster.step(12)
    assert ringmaster.metric("loss", 2.5)
    assert ringmaster.metric("lr/group-0", 1e-05)
    assert ringmaster.checkpoint(10)
    assert control.lines() == ["step 12", "metric loss 2.5", "metric lr/group-0 1e-05", "checkpoint 10"]
    assert ringmaster.dropped() == 0 and ringmaster.stats()["sent"] == 4


def test_invalid_arguments_raise(control):
    with pytest.raises(ValueError, match="no spaces"):
        ringmaster.metric("train loss", 1.0)
    with pytest.raises(ValueError):
        ringmaster.metric("", 1.0)
    with pytest.raises(ValueError):
        ringmaster.step(-1)
    with pytest.raises(TypeError):
        ringmaster.step(True)
    assert control.lines() == []


def test_non_finite_metric_is_dropped_with_one_warning(control):
    with pytest.warns(RuntimeWarning, match="non-finite"):
        assert not ringmaster.metric("loss", float("nan"))
    assert not ringmaster.metric("loss", float("inf"))
    assert ringmaster.dropped() == 2 and control.lines() == []


def test_section_lines_and_end_on_exception(control):
    with ringmaster.section("eval", "10m"):
        ringmaster.step(1)
    with pytest.raises(RuntimeError):
        with ringmaster.section("save", 1.5):
            raise RuntimeError("boom")

    @ringmaster.section("export", "500ms")
    def export():
        return 7

    assert export() == 7
    assert control.lines() == ["section eval 600", "step 1", "section end", "section save 1.5", "section end",
                               "section export 0.5", "section end"]


def test_section_validates_early():
    with pytest.raises(ValueError, match="section name"):
        ringmaster.section("two words", "1s")
    with pytest.raises(ValueError, match="malformed"):
        ringmaster.section("eval", "10")
    with pytest.raises(ValueError, match="at least 1ms"):
        ringmaster.section("eval", 0)
    with pytest.raises(ValueError, match="at most a week"):
        ringmaster.section("eval", "169h")


def test_unset_control_is_a_silent_no_op():
    assert not ringmaster.step(1)
    with ringmaster.section("eval", "1s"):
        pass
    assert ringmaster.dropped() == 0 and ringmaster.stats()["unconfigured"] == 3


def test_absent_or_removed_socket_counts_drops(control, monkeypatch):
    assert ringmaster.step(1)
    control.close()
    os.unlink(control.path)  # the agent went away
    assert not ringmaster.step(2)
    monkeypatch.setenv("RINGMASTER_CONTROL", control.path + ".nothing")
    assert not ringmaster.metric("loss", 1.0)
    assert ringmaster.dropped() == 2


def test_full_socket_drops_instead_of_blocking(control):
    sent = sum(ringmaster.step(i) for i in range(5000))  # nobody reads: the queue fills up
    assert sent < 5000 and ringmaster.dropped() == 5000 - sent


@pytest.mark.parametrize("text,value", [("500ms", 0.5), ("30s", 30), ("1.5s", 1.5), ("10m", 600), ("2h", 7200),
                                        ("1_000ms", 1.0), (" 5ms ", 0.005), (42, 42.0), (0.25, 0.25)])
def test_durations(text, value):
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["10", "s", "-1s", "5 min", "1d", "infs", "nan"])
def test_malformed_durations(text):
    with pytest.raises(ValueError):
        seconds(text)


def test_a_stepping_process_announces_its_exit_as_a_section(control):
    """Interpreter teardown after the last step (seconds, with torch) is announced, so a short stall
    timeout does not take a finished rank for hung; a process that never stepped announces nothing."""
    import subprocess
    import sys
    from .helpers import child_environment
    script = "import ringmaster; ringmaster.step(1); ringmaster.step(2)"
    subprocess.run([sys.executable, "-c", script], env=child_environment(), check=True)
    assert control.lines() == ["step 1", "step 2", f"section exit {ringmaster.reports.EXIT_SECTION_SECONDS}"]
    subprocess.run([sys.executable, "-c", "import ringmaster; ringmaster.metric('loss', 1.0)"],
                   env=child_environment(), check=True)
    assert control.lines() == ["metric loss 1.0"]


def _answer(control, line):
    """What the agent does with a controller request: one datagram to the address the reports came from."""
    control.sock.setblocking(False)
    data, sender = control.sock.recvfrom(4096)
    control.sock.settimeout(2)
    assert sender, "the rank's report socket is bound, so the agent can answer it"
    control.sock.sendto(line.encode(), sender)
    return data.decode()


def test_checkpoint_now_request_names_the_step_to_save(control):
    assert ringmaster.step(5)
    assert _answer(control, "checkpoint-now 7") == "step 5"
    assert not ringmaster.checkpoint_requested(5)
    assert not ringmaster.checkpoint_requested(6)
    assert ringmaster.checkpoint_requested(7)
    assert not ringmaster.checkpoint_requested(8), "a request is answered once"


def test_checkpoint_now_for_a_passed_step_is_ignored(control):
    assert ringmaster.step(9)
    _answer(control, "checkpoint-now 3")
    assert not ringmaster.checkpoint_requested(9)
    assert ringmaster.step(10)
    _answer(control, "checkpoint-now 11\nnonsense line")
    assert not ringmaster.checkpoint_requested(10)
    assert ringmaster.checkpoint_requested(11)


def test_checkpoint_requested_outside_ringmaster_is_false(monkeypatch):
    monkeypatch.delenv("RINGMASTER_CONTROL", raising=False)
    assert not ringmaster.checkpoint_requested(0)
