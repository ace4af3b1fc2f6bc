"""``ringmaster.torch.warm``, the module a warm interpreter preloads: in a fresh interpreter it imports what the
first DDP construction would import lazily, and starts nothing (no process group, no extra thread)."""

import subprocess
import sys

import pytest

pytest.importorskip("torch")


def test_preloading_imports_what_ddp_imports_lazily_and_starts_nothing():
    probe = (
        "import sys, threading\n"
        "import ringmaster.torch.warm\n"
        "import torch.distributed as dist\n"
        "assert 'torch._dynamo' in sys.modules\n"
        "assert not dist.is_initialized()\n"
        "print(threading.active_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1", f"threads after the preload: {out.stdout}"
