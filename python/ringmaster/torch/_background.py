"""One background thread that runs checkpoint writes one at a time (``BackgroundWriter.swift``).

``submit`` blocks while a write is in flight (back-pressure: at most one snapshot waits in memory
besides the one being trained on) and returns how long it waited; the error of a failed write is
raised by the next ``submit`` or ``drain``.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from ..errors import CheckpointError

__all__ = ["BackgroundWriter"]


class BackgroundWriter:
    def __init__(self, name: str):
        self._condition = threading.Condition()
        self._pending: Optional[Callable[[], None]] = None
        self._busy = False
        self._failure: Optional[BaseException] = None
        self._closed = False
        #: Called (lock held) when a submitter starts waiting for the write in flight; for tests.
        self.on_wait: Callable[[], None] = lambda: None
        # A daemon thread: the owner drains it at exit, and a hard kill leaves only a hidden partial folder.
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _wait_idle(self) -> None:
        """With the condition held: waits until no write is queued or running, then raises a failed one's error."""
        if self._busy or self._pending is not None:
            self.on_wait()
        while self._busy or self._pending is not None:
            self._condition.wait()
        self._raise_failure()

    def submit(self, work: Callable[[], None]) -> float:
        start = time.monotonic()
        with self._condition:
            self._wait_idle()
            if self._closed:
                raise CheckpointError("the checkpoint writer was closed")
            self._pending = work
            self._condition.notify_all()
        return time.monotonic() - start

    def drain(self) -> float:
        """Waits until no write is queued or running; raises a failed write's error; returns the wait."""
        start = time.monotonic()
        with self._condition:
            self._wait_idle()
        return time.monotonic() - start

    @property
    def busy(self) -> bool:
        with self._condition:
            return self._busy or self._pending is not None

    def close(self) -> None:
        """Lets the queued write finish, then stops the thread; raises a write's failure."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join()
        with self._condition:
            self._raise_failure()

    def _loop(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                work = self._pending
                if work is None:
                    return
                self._pending = None
                self._busy = True
            failure = None
            try:
                work()
            except BaseException as e:  # noqa: B902 — handed to the training thread
                failure = e
            with self._condition:
                self._busy = False
                if failure is not None:
                    self._failure = failure
                self._condition.notify_all()
