"""Shared fixtures: a clean rank environment for every test, and a real agent-side datagram socket."""

import os
import shutil
import socket
import tempfile

import pytest

import ringmaster.reports

RANK_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
                  "TORCHELASTIC_RESTART_COUNT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name in RANK_VARIABLES or (name.startswith("RINGMASTER_") and name not in ("RINGMASTER_LIBRARY", "RINGMASTER_BIN", "RINGMASTER_SHIPPED_LIBRARY")):
            monkeypatch.delenv(name)
    ringmaster.reports._reset_for_tests()
    yield
    ringmaster.reports._reset_for_tests()


class ControlSocket:
    """The agent's end: a bound AF_UNIX datagram socket; ``lines()`` returns what arrived."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(2)

    def receive(self):
        return self.sock.recv(65536).decode()

    def lines(self):
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(65536).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(2)
        return out

    def close(self):
        self.sock.close()


@pytest.fixture
def control(monkeypatch):
    folder = tempfile.mkdtemp(prefix="rm-", dir="/tmp")  # short: sun_path holds 108 bytes
    path = os.path.join(folder, "control.sock")
    sock = ControlSocket(path)
    monkeypatch.setenv("RINGMASTER_CONTROL", path)
    yield sock
    sock.close()
    shutil.rmtree(folder, ignore_errors=True)
