"""The controller's requests to this rank, read on a thread of their own (an in-process rejoin needs them).

``checkpoint_requested`` reads the report socket when the training loop asks; a rank that allows an
in-process rejoin (``ringmaster.torch.elastic``) cannot wait for that: an ``abandon`` must reach it while
its training thread is blocked in a collective on a hung peer. ``listen()`` starts one daemon thread that
reads every request the agent relays (they come to the address reports are sent from) and routes it:

- ``checkpoint-now STEP`` → ``checkpoint_requested`` (which then stops reading the socket itself);
- ``abandon ATTEMPT DEADLINE_MS`` → every callback given to ``on_abandon``, on the listener thread, then
  ``abandoned()`` is true until ``rejoin`` arrives;
- ``rejoin`` + ``KEY=VALUE`` lines → ``wait_rejoin`` returns the variables of the attempt to join.

Standard library only; a rank outside Ringmaster (no ``RINGMASTER_CONTROL``) never starts the thread.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Callable, Dict, List, Optional

from . import reports

__all__ = ["listen", "on_abandon", "abandoned", "abandon_deadline", "wait_abandon", "wait_rejoin"]

_condition = threading.Condition()
_thread: Optional[threading.Thread] = None
_thread_pid: Optional[int] = None
_abandon: Optional[tuple] = None  # (attempt, deadline seconds) of the newest abandon not yet answered
_rejoin: Optional[Dict[str, str]] = None
_callbacks: List[Callable[[], None]] = []


def _route(line_block: str) -> None:
    global _abandon, _rejoin
    lines = line_block.splitlines()
    if not lines:
        return
    words = lines[0].split()
    if words and words[0] == "rejoin":
        variables = {}
        for line in lines[1:]:
            key, sep, value = line.partition("=")
            if sep and key:
                variables[key] = value
        with _condition:
            _rejoin = variables
            _abandon = None
            _condition.notify_all()
        return
    for line in lines:
        words = line.split()
        if len(words) == 2 and words[0] == "checkpoint-now" and words[1].isdigit():
            reports._note_checkpoint_now(int(words[1]))
        elif len(words) == 3 and words[0] == "abandon" and words[1].isdigit() and words[2].isdigit():
            with _condition:
                _abandon = (int(words[1]), int(words[2]) / 1000)
                callbacks = list(_callbacks)
                _condition.notify_all()
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # a callback must not end the listener
                    pass


def _run(sock) -> None:
    while True:
        try:
            select.select([sock], [], [])
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            return
        _route(data.decode("utf-8", "replace"))


def listen() -> bool:
    """Starts the listener (once per process); False outside Ringmaster."""
    global _thread, _thread_pid
    if not os.environ.get("RINGMASTER_CONTROL"):
        return False
    with _condition:
        if _thread is not None and _thread_pid == os.getpid():
            return True
        sock = reports._get_socket()
        reports._listener_pid = os.getpid()
        _thread = threading.Thread(target=_run, args=(sock,), name="ringmaster-requests", daemon=True)
        _thread_pid = os.getpid()
        _thread.start()
    return True


def on_abandon(callback: Callable[[], None]) -> None:
    """Calls ``callback()`` on the listener thread whenever an ``abandon`` arrives (it must not block)."""
    with _condition:
        _callbacks.append(callback)


def abandoned() -> bool:
    """True from an ``abandon`` until the ``rejoin`` that follows it."""
    with _condition:
        return _abandon is not None


def abandon_deadline() -> Optional[float]:
    """Seconds the controller waits for this rank to rejoin (the newest ``abandon``'s), or None."""
    with _condition:
        return None if _abandon is None else _abandon[1]


def wait_abandon(seconds: float) -> bool:
    """Waits up to ``seconds`` for an ``abandon``; True when one came."""
    with _condition:
        return _condition.wait_for(lambda: _abandon is not None or _rejoin is not None, timeout=seconds)


def wait_rejoin(seconds: float) -> Optional[Dict[str, str]]:
    """Waits up to ``seconds`` for a ``rejoin``; its variables (taken: the next call waits for a new one), or None."""
    global _rejoin
    with _condition:
        if not _condition.wait_for(lambda: _rejoin is not None, timeout=seconds):
            return None
        variables, _rejoin = _rejoin, None
        return variables


def _reset_for_tests() -> None:
    global _abandon, _rejoin, _thread, _thread_pid
    with _condition:
        _thread, _thread_pid = None, None  # the reports socket is closed with the test: its thread ends
        reports._listener_pid = None
        _abandon = None
        _rejoin = None
        _callbacks.clear()
