"""The test rendezvous: the same small server the benchmark scripts use (scripts/ringmaster_rendezvous.py),
speaking the controller's rendezvous wire protocol so ranks can join a world without a controller."""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "ringmaster_rendezvous.py")
_spec = importlib.util.spec_from_file_location("ringmaster_rendezvous", _PATH)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
Rendezvous = _module.Rendezvous

__all__ = ["Rendezvous"]
