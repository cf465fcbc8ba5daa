#!/usr/bin/env bash
# The svZeroDSolver peer (PyPI svzerod, a C++ 0D solver with Python bindings) in its own venv. Usage: benchmarks/peers/setup_svzerod.sh [DIR]
# The reference CSVs in tests/data/zerod/ref were made with svzerod 3.2 (benchmarks/peers/svzerod_reference.py).
set -euo pipefail
DIR="${1:-/work/peers/svzerod}"
python3 -m venv "$DIR"
"$DIR/bin/pip" install -q "svzerod==3.2" numpy pandas
"$DIR/bin/python" -c "import svzerod; print('svzerod ready:', svzerod.__version__, svzerod.__file__)"
