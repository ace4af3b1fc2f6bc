#!/usr/bin/env bash
# Makes (once) a Python venv with the machine's CPU PyTorch wheel, for the torch.distributed example.
#   scripts/torch-venv.sh DIR   → DIR/bin/python has torch; exit 3 when no wheel is on this machine.
# The wheel is $RINGMASTER_TORCH_WHEEL, or the newest torch-*.whl in /opt/wheels. Its dependencies come
# from PyPI. Reuses DIR when it already imports torch.
set -euo pipefail
dir=${1:?usage: scripts/torch-venv.sh DIR}
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import torch' 2>/dev/null; then exit 0; fi
wheel=${RINGMASTER_TORCH_WHEEL:-$(ls -1 /opt/wheels/torch-*.whl 2>/dev/null | sort | tail -1 || true)}
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
  echo "no PyTorch wheel on this machine (looked for \$RINGMASTER_TORCH_WHEEL and /opt/wheels/torch-*.whl)" >&2
  exit 3
fi
rm -rf "$dir"
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
# NumPy only silences torch's warning at import; the example runs without it.
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check numpy || true
"$dir/bin/python" -c 'import torch, torch.distributed as d; assert d.is_gloo_available(); print("torch", torch.__version__)'
