"""``section(name, timeout)``: announce a stretch of silence (an evaluation, a long save).

On entry it sends ``section NAME SECONDS`` — this rank may send no ``step`` for up to SECONDS,
and hang detection uses that timeout while the section is open — and on exit ``section end``,
also when the body raises. Usable as a context manager or a decorator::

    with ringmaster.section("eval", "10m"):
        evaluate()

    @ringmaster.section("export", 90)
    def export(): ...

``timeout`` is a number of seconds or a duration string (``500ms``, ``30s``, ``1.5s``, ``10m``,
``2h``). Sections do not nest on the agent's side: an inner ``section end`` closes the section.
Like every report, a section never blocks and never fails for delivery problems.
"""

from __future__ import annotations

import contextlib

from . import reports
from .durations import Duration, seconds

__all__ = ["section", "format_seconds", "MAX_SECTION_SECONDS"]

#: The longest section the agent accepts (RankReport.maxSectionSeconds): a week.
MAX_SECTION_SECONDS = 7 * 24 * 3600


def format_seconds(value: float) -> str:
    """A plain decimal number of seconds with at most millisecond precision: 30, 1.5, 0.25."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


class section(contextlib.ContextDecorator):
    """Context manager (and decorator) reporting ``section NAME SECONDS`` … ``section end``."""

    def __init__(self, name: str, timeout: Duration):
        self.name = reports.validate_name(name, "section name")
        self.seconds = seconds(timeout, f"timeout of section {name!r}")
        if self.seconds < 0.001:
            raise ValueError(f"timeout of section {name!r} must be at least 1ms, not {timeout!r}")
        if self.seconds > MAX_SECTION_SECONDS:
            raise ValueError(f"timeout of section {name!r} is {timeout!r}; the agent accepts at most a week (168h)")

    @property
    def line(self) -> str:
        return f"section {self.name} {format_seconds(self.seconds)}"

    def __enter__(self) -> "section":
        reports.send(self.line)
        return self

    def __exit__(self, *exc) -> bool:
        reports.send("section end")
        return False

    def __repr__(self) -> str:
        return f"section({self.name!r}, {format_seconds(self.seconds)!r}s)"
