"""Exceptions of the ringmaster package.

``RankEnvironmentError`` — a rank variable is malformed or inconsistent (names the variable,
its value and what to do). ``CollectiveError`` — a collective operation of the C ABI failed,
with the typed kind of Swift's ``CollectiveError`` (``timeout``, ``peerLost``, ``mismatch``, …).
``CheckpointError`` — a checkpoint cannot be saved or restored for a reason other than
corruption (corruption ends the rank with exit status 86 instead, see ``ringmaster.torch``).
"""

from __future__ import annotations

from typing import Optional

__all__ = ["RankEnvironmentError", "CollectiveError", "CheckpointError", "COLLECTIVE_ERROR_KINDS"]


class RankEnvironmentError(ValueError):
    """A rank-environment variable is malformed or disagrees with another one."""

    def __init__(self, variable: str, value: Optional[str], problem: str, hint: str = ""):
        self.variable = variable
        self.value = value
        self.problem = problem
        self.hint = hint
        shown = "unset" if value is None else repr(value)
        text = f"{variable}={shown}: {problem}"
        if hint:
            text += f" — {hint}"
        super().__init__(text)


# Return codes of the C ABI (rm_* functions) and the kinds they stand for.
COLLECTIVE_ERROR_KINDS = {
    1: "timeout",
    2: "peerLost",
    3: "mismatch",
    4: "refused",
    5: "joinTimedOut",
    6: "invalidArgument",
    7: "closed",
    8: "other",
}
_CODES = {kind: code for code, kind in COLLECTIVE_ERROR_KINDS.items()}


class CollectiveError(Exception):
    """A collective operation failed: ``kind`` is one of ``COLLECTIVE_ERROR_KINDS``' values,
    ``code`` the C ABI return code, ``message`` the library's explanation."""

    def __init__(self, kind: str, message: str, code: Optional[int] = None):
        if code is None:
            code = _CODES.get(kind, 8)
        self.kind = kind
        self.code = code
        self.message = message
        super().__init__(f"{kind}: {message}" if message else kind)

    @classmethod
    def from_code(cls, code: int, message: str) -> "CollectiveError":
        kind = COLLECTIVE_ERROR_KINDS.get(code, "other")
        if code not in COLLECTIVE_ERROR_KINDS:
            message = f"unknown return code {code}: {message}"
        return cls(kind, message, code)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be saved or restored (not corruption: that exits with status 86)."""
