"""Durations as the manifests write them: ``500ms``, ``30s``, ``1.5s``, ``10m``, ``2h``.

``seconds(value)`` also takes a plain number of seconds (int or float). A string without a unit
is refused, as in the manifests: the unit is not obvious. Digits may be grouped with ``_``.
"""

from __future__ import annotations

import math
from typing import Union

__all__ = ["seconds", "Duration"]

Duration = Union[int, float, str]

_UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
_NUMBER_CHARS = set("0123456789.eE+-")


def _plain_number(text: str):
    cleaned = text.replace("_", "")
    if not cleaned or not set(cleaned) <= _NUMBER_CHARS:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def seconds(value: Duration, what: str = "duration") -> float:
    """The number of seconds of ``value`` (a number of seconds or a duration string).

    Raises ``ValueError`` naming ``what`` for a negative, non-finite or malformed value.
    Strings are rounded to whole milliseconds, like the manifests."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of seconds or a string like '30s', not a bool")
    if isinstance(value, (int, float)):
        result = float(value)
        if not math.isfinite(result) or result < 0:
            raise ValueError(f"{what} {value!r} must be a finite number of seconds >= 0")
        return result
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a number of seconds or a string like '30s', not {type(value).__name__}")
    text = value.strip()
    for unit, scale in _UNITS:
        if text.endswith(unit):
            number = _plain_number(text[: -len(unit)])
            # "5ms" also ends in "s": only accept when the rest is a plain number.
            if number is None or number < 0:
                continue
            return math.floor(number * scale * 1000 + 0.5) / 1000
    raise ValueError(f"malformed {what} {value!r} — write a number and a unit: 500ms, 30s, 1.5s, 10m or 2h")
