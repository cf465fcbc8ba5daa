"""Tooling (issue 19, item 7): the core imports no edge package, the version is written once, the package is typed."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Pictures, meshing and file formats: only mesh/_io.py, io/ and viz/ use them, inside the functions that need them.
EDGE = ("pyvista", "vtk", "vtkmodules", "matplotlib", "gmsh", "wfdb", "meshio")
SOLVERS = (
    "organtwin.ionic",
    "organtwin.ep",
    "organtwin.ecg",
    "organtwin.mesh",
    "organtwin.flow",
    "organtwin.couple",
    "organtwin.calibrate",
)

_PROBE = """
import importlib, json, sys
edge = {edge!r}
found = {{"organtwin": [m for m in edge if m in sys.modules]}}
import organtwin
found["organtwin"] = [m for m in edge if m in sys.modules] + (["jax"] if "jax" in sys.modules else [])
for name in {solvers!r}:
    importlib.import_module(name)
    found[name] = [m for m in edge if m in sys.modules]
print(json.dumps(found))
"""


def test_solver_packages_import_no_edge_package():
    """`import organtwin` loads neither JAX nor any edge package (the console script takes Ctrl-C before the heavy
    imports); each solver package, imported in turn in a fresh interpreter, adds no edge package."""
    code = _PROBE.format(edge=EDGE, solvers=SOLVERS)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.splitlines()[-1])
    assert found == {name: [] for name in ("organtwin", *SOLVERS)}, found


def test_version_written_once():
    from importlib.metadata import version

    import organtwin

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert organtwin.__version__ == version("organtwin") == pyproject["project"]["version"]
    sources = [p for p in (ROOT / "organtwin").rglob("*.py") if f'"{organtwin.__version__}"' in p.read_text()]
    assert not sources, f"the version is written in {sources} too"


def test_typed_and_linted_configs():
    assert (ROOT / "organtwin" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["pyright"]["include"] == ["organtwin"]
    assert {"ruff", "pyright"} <= {
        d.split("=")[0].split(">")[0] for d in pyproject["project"]["optional-dependencies"]["dev"]
    }
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert all(f"entry: {tool}" in hooks for tool in ("ruff format", "ruff check", "pyright"))
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("ruff format --check .") < ci.index("ruff check .") < ci.index("&& pytest")
