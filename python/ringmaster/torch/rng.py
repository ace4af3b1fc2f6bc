"""Random-number-generator states of a rank: Python's ``random``, NumPy's global generator (when
NumPy is installed), torch's CPU generator and every CUDA device's (when CUDA is available).

``capture()`` returns plain values and tensors only (loadable with ``torch.load(weights_only=True)``);
``restore(state)`` puts them back, so the next random numbers equal those of the run that saved.
"""

from __future__ import annotations

import random
from typing import Any, Dict

import torch

__all__ = ["capture", "restore"]


def _numpy():
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def capture() -> Dict[str, Any]:
    state: Dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    np = _numpy()
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _tuples(value):
    # random.setstate wants tuples; a round trip through some serializers yields lists.
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def restore(state: Dict[str, Any]) -> None:
    if "python" in state:
        random.setstate(_tuples(state["python"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    np = _numpy()
    if np is not None and "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        saved = state["cuda"]
        for device in range(min(len(saved), torch.cuda.device_count())):
            torch.cuda.set_rng_state(saved[device], device)
