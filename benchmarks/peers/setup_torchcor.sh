#!/usr/bin/env bash
# Create TorchCor's own virtual environment if it is missing (peers stay out of organtwin's dependencies).
#
#   bash benchmarks/peers/setup_torchcor.sh [VENV_DIR]      # default: $TORCHCOR_VENV or /work/peers/torchcor
#
# TorchCor needs PyTorch; `pip install torch==2.13.0` takes the CPU build (from the local wheel cache where there is
# one, see PIP_FIND_LINKS), then `pip install torchcor`. Prints the venv's python, which
# benchmarks/monodomain_vs_torchcor.py uses via --torchcor-python or TORCHCOR_PYTHON.
set -euo pipefail
venv="${1:-${TORCHCOR_VENV:-/work/peers/torchcor}}"
py="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, torchcor" 2>/dev/null; then
    echo "TorchCor venv ready: $venv/bin/python" >&2
else
    echo "creating TorchCor venv in $venv" >&2
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "torch==2.13.0"
    "$venv/bin/python" -m pip install -q torchcor
    "$venv/bin/python" -c "import torch, torchcor; print('torch', torch.__version__)" >&2
fi
echo "$venv/bin/python"
