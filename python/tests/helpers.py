"""Helpers for tests that start Python subprocesses."""

import os

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_environment(extra=None):
    """os.environ plus ``extra``, with this checkout's package importable (installed or not)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env
