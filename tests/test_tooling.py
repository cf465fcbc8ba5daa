"""Tooling (issue 19, item 7): the core imports no edge package, the version is written once, the package is typed."""

from __future__ import annotations

import ast
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


#: The core (solvers, their data types, fits) and the edge (files, pictures, the command line): the core never imports
#: the edge, not even lazily inside a function (issue 19, item 4). The atomic writer the core's own writers need is the
#: neutral private module organtwin/_atomic.py, which organtwin.io re-exports.
CORE = ("mesh", "ep", "flow", "calibrate", "ionic", "couple", "ecg")
EDGE_PACKAGES = ("organtwin.io", "organtwin.viz", "organtwin.cli")


def _imported(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source`` (the text of ``module``), at any depth: top level,
    inside functions and under ``if TYPE_CHECKING``. Relative imports are resolved; ``from a import b`` gives ``a``
    and ``a.b`` (b may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found += [(node.lineno, name)] + [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return found


def test_the_import_reader_resolves_relative_and_lazy_imports():
    source = "def f():\n    from ..io._atomic import atomic_files\n    from .. import viz\nimport organtwin.cli\n"
    names = {n for _, n in _imported(source, "organtwin.mesh._io")}
    assert {"organtwin.io._atomic", "organtwin.viz", "organtwin.cli"} <= names
    assert "organtwin.mesh._vtu" in {n for _, n in _imported("from ._vtu import x\n", "organtwin.mesh", True)}


def test_the_core_never_imports_the_edge():
    """organtwin.mesh, ep, flow, calibrate, ionic, couple and ecg import neither organtwin.io, organtwin.viz nor
    organtwin.cli (statically: every import statement of every module, lazy ones inside functions included)."""
    bad = []
    for pkg in CORE:
        assert (ROOT / "organtwin" / pkg / "__init__.py").is_file(), pkg
        for f in sorted((ROOT / "organtwin" / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_package else parts)
            for line, name in _imported(f.read_text(encoding="utf-8"), module, is_package):
                if any(name == e or name.startswith(e + ".") for e in EDGE_PACKAGES):
                    bad.append(f"{f.relative_to(ROOT)}:{line}: imports {name}")
    assert not bad, "\n".join(bad)
