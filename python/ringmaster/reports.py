"""Rank reports: one datagram per line to the agent's Unix socket (``RINGMASTER_CONTROL``).

``step(n)`` (progress, and the liveness signal of hang detection), ``metric(name, value)``,
``checkpoint(n)`` (this rank's shard of step n is durable), ``checkpoint_failed(n, reason)`` (it could not
be written: the step is never committed) and the raw ``send(line)`` used by ``section``. The
controller's requests come back on the same socket (bound to an abstract address of its own, so the
agent can answer it): ``checkpoint_requested(step)`` is True at the step a ``checkpoint-now STEP``
request names (a Slurm time limit is near). Reports never block and never raise for delivery problems: the socket is
non-blocking, and a missing, refused or full socket drops the datagram and counts it in
``dropped()``. Without ``RINGMASTER_CONTROL`` (a plain local run) every report is a no-op that
returns False; those are counted by ``stats()`` as ``unconfigured``, not as drops.

Interpreter exit: tearing down a process that imported torch takes seconds of CPU after ``main``
returns (module teardown; more when several ranks share few cores), with no report — a short
``failure.stallTimeout`` would take a rank that finished its last step for hung. So a process
that has reported a ``step`` sends ``section exit EXIT_SECTION_SECONDS`` from an ``atexit`` handler
registered when this module is imported: it runs after non-daemon threads were joined and after the
handlers registered later (a ``Checkpointer`` finishing its last save), which the stall timeout
still covers, and before the interpreter tears its modules down. The section ends with the process.

Bad arguments are programming errors and do raise: a negative step, a metric name outside the
agent's grammar (letters, digits and ``_-./:``, at most 128 characters). A non-finite metric
value (a NaN loss) is not representable in the protocol: it is dropped and counted, with one
``RuntimeWarning``, so training decides for itself what a NaN means.
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import socket
import threading
import warnings
from typing import Dict, Optional

__all__ = ["step", "metric", "checkpoint", "checkpoint_failed", "checkpoint_requested", "send", "dropped", "stats",
           "validate_name", "EXIT_SECTION_SECONDS"]

#: How long a stepping rank announces it may stay silent while the interpreter exits.
EXIT_SECTION_SECONDS = 60

_MAX_DATAGRAM = 4096
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:")

_lock = threading.Lock()
_socket: Optional[socket.socket] = None
_socket_pid: Optional[int] = None
_counts = {"sent": 0, "dropped": 0, "unconfigured": 0}
_warned_non_finite = False
_stepped_pid: Optional[int] = None  # the process that reported a step (a forked child is not it)
_requested: Optional[int] = None  # the step a checkpoint-now request names, not reached yet
_listener_pid: Optional[int] = None  # the process whose requests thread reads the socket (ringmaster.requests)


@atexit.register
def _announce_exit() -> None:
    if _stepped_pid is not None and _stepped_pid == os.getpid():
        send(f"section exit {EXIT_SECTION_SECONDS}")


def validate_name(name: str, what: str = "metric name") -> str:
    """Returns ``name`` if the agent's parser accepts it; raises ``ValueError`` otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name or len(name) > 128 or not set(name) <= _NAME_CHARS:
        raise ValueError(f"{what} {name!r} is not valid — use 1 to 128 letters, digits and _-./: (no spaces)")
    return name


def _count(key: str) -> None:
    with _lock:
        _counts[key] += 1


def _get_socket() -> socket.socket:
    global _socket, _socket_pid
    with _lock:
        # A forked child (a DataLoader worker) gets its own socket.
        if _socket is None or _socket_pid != os.getpid():
            _socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # non-inheritable (PEP 446)
            _socket.setblocking(False)
            try:
                _socket.bind("")  # Linux autobind: an abstract address the agent answers requests to
            except OSError:
                pass  # reports still work; requests cannot reach this rank
            _socket_pid = os.getpid()
        return _socket


def send(line: str) -> bool:
    """Sends one report line; True when the agent's socket took it."""
    path = os.environ.get("RINGMASTER_CONTROL")
    if not path:
        _count("unconfigured")
        return False
    data = line.encode("utf-8")
    if len(data) > _MAX_DATAGRAM:
        raise ValueError(f"report line of {len(data)} bytes exceeds the {_MAX_DATAGRAM}-byte datagram limit")
    try:
        sent = _get_socket().sendto(data, path)
    except OSError:  # absent (ENOENT), refused (ECONNREFUSED), full (EAGAIN), path too long, …
        sent = -1
    if sent == len(data):
        _count("sent")
        return True
    _count("dropped")
    return False


def _count_index(n, what: str) -> int:
    if isinstance(n, bool):
        raise TypeError(f"{what} must be an int, not a bool")
    value = operator.index(n)
    if value < 0:
        raise ValueError(f"{what} {value} must be >= 0")
    return value


def step(n: int) -> bool:
    """Reports progress: ``step N`` (N completed steps, or the index of the step just finished)."""
    global _stepped_pid
    line = f"step {_count_index(n, 'step')}"
    _stepped_pid = os.getpid()
    return send(line)


def checkpoint(n: int) -> bool:
    """Reports that this rank's shard of step N is durable: ``checkpoint N``."""
    return send(f"checkpoint {_count_index(n, 'checkpoint step')}")


def checkpoint_requested(step: int) -> bool:
    """True when the controller asked for a checkpoint of ``step`` (``checkpoint-now STEP``, relayed by
    the agent before a Slurm time limit): save it as a periodic one and report ``checkpoint(step)``.

    Call it once per step, after ``step(n)`` (the agent answers the address reports come from). A
    request for a step already passed is ignored: the controller then asks for a later one, so that
    every rank saves the same step. Never blocks; False outside Ringmaster.
    """
    global _requested
    current = _count_index(step, "step")
    if not os.environ.get("RINGMASTER_CONTROL"):
        return False
    sock = _get_socket()
    while _listener_pid != os.getpid():  # else the requests thread reads the socket and notes the request
        try:
            data = sock.recv(512)
        except OSError:  # nothing waiting (EAGAIN), or the socket is unusable
            break
        for line in data.decode("utf-8", "replace").splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "checkpoint-now" and words[1].isdigit():
                _note_checkpoint_now(int(words[1]))
    with _lock:
        if _requested is not None and _requested < current:
            _requested = None
        if _requested == current:
            _requested = None
            return True
    return False


def _note_checkpoint_now(asked: int) -> None:
    """A ``checkpoint-now`` request (read here or by the requests thread); an older one is superseded."""
    global _requested
    with _lock:
        _requested = asked if _requested is None else max(_requested, asked)


def checkpoint_failed(n: int, reason: str) -> bool:
    """Reports that this rank's shard of step N could not be written (a full disk): ``checkpoint-failed N
    REASON``, the reason on one line and cut to fit a datagram. The controller records why the step is not
    committed."""
    words = " ".join(str(reason).split()) or "no reason given"
    line = f"checkpoint-failed {_count_index(n, 'checkpoint step')} {words}"
    while len(line.encode("utf-8")) > 2048:
        line = line[:-1]
    return send(line)


def metric(name: str, value: float) -> bool:
    """Reports ``metric NAME VALUE``; a non-finite value is dropped (counted, warned once)."""
    global _warned_non_finite
    validate_name(name)
    number = float(value)
    if not math.isfinite(number):
        _count("dropped")
        if not _warned_non_finite:
            _warned_non_finite = True
            warnings.warn(f"ringmaster.metric({name!r}, {number!r}): non-finite values cannot be reported; "
                          "dropped (this warning is shown once)", RuntimeWarning, stacklevel=2)
        return False
    return send(f"metric {name} {number!r}")


def dropped() -> int:
    """Reports that did not reach the agent (socket absent, refused or full, or a non-finite metric)."""
    with _lock:
        return _counts["dropped"]


def stats() -> Dict[str, int]:
    """Counts of reports ``sent``, ``dropped`` and ``unconfigured`` (RINGMASTER_CONTROL unset)."""
    with _lock:
        return dict(_counts)


def _reset_for_tests() -> None:
    global _socket, _warned_non_finite, _stepped_pid, _requested
    with _lock:
        _requested = None
        for key in _counts:
            _counts[key] = 0
        if _socket is not None:
            _socket.close()
        _socket = None
        _warned_non_finite = False
        _stepped_pid = None
