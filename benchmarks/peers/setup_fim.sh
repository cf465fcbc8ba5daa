#!/usr/bin/env bash
# The fim-python peer in its own venv (it compiles its C extension, ~1 min). Usage: benchmarks/peers/setup_fim.sh [DIR]
set -euo pipefail
DIR="${1:-/work/peers/fim}"
python3 -m venv "$DIR"
"$DIR/bin/pip" install -q fim-python numpy
"$DIR/bin/python" -c "import fimpy, numpy; print('fim-python ready:', fimpy.__file__)"
