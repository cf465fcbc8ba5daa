"""One error family (issue 19, item 2): every error organtwin raises on purpose is an `OrgantwinError`, defined in
organtwin/_errors.py; the command line prints the user's errors on one line and a bug as a bug (``--debug``: the
traceback)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from cli import one_error_line, run_cli

import organtwin
import organtwin._errors as E
from organtwin.cli import _mesh as _mesh_commands  # the mesh commands read meshes through read_mesh_cli

PACKAGE = Path(organtwin.__file__).parent

FAMILY = {
    name: cls
    for name, cls in vars(E).items()
    if inspect.isclass(cls)
    and issubclass(cls, Exception)
    and not issubclass(cls, Warning)
    and cls.__module__ == E.__name__
}


def test_every_error_is_in_the_family():
    assert {"MeshError", "NetworkError", "SizeError", "UnitError", "CaseError", "CalibrationError", "DataError"} <= set(
        FAMILY
    )
    for name, cls in FAMILY.items():
        assert issubclass(cls, E.OrgantwinError), name
    for name in ("MeshError", "NetworkError", "SizeError", "UnitError", "CaseError", "CalibrationError", "DataError"):
        assert issubclass(FAMILY[name], ValueError), name  # what library users caught before
    assert issubclass(E.ResultsError, OSError)
    e = E.ResultsError("cannot write x", meant="x", errno=28)
    assert (e.errno, e.meant, str(e)) == (28, Path("x"), "cannot write x")


def test_errors_are_defined_once_and_reexported_where_users_import_them():
    """No module but organtwin/_errors.py defines an exception class; the old import places give the same class."""
    defined = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (node.name.endswith(("Error", "Warning", "Exception"))):
                defined.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not defined, defined

    import organtwin.calibrate as calibrate
    import organtwin.io as io
    from organtwin._sizes import SizeError

    assert io.CaseError is E.CaseError and io.UnitError is E.UnitError and io.ResultsError is E.ResultsError
    assert calibrate.CalibrationError is E.CalibrationError and calibrate.DataError is E.DataError
    assert (
        SizeError is E.SizeError and organtwin.MeshError is E.MeshError and organtwin.OrgantwinError is E.OrgantwinError
    )


# ------------------------------------------------------------------------------------------------- the command line
def _raise(exc: BaseException):
    def read(*args, **kwargs):
        raise exc

    return read


def test_user_error_is_one_line(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "none.vtu")
    assert rc == 1
    line = one_error_line(err, only=True)
    assert "none.vtu" in line and "internal error" not in line


@pytest.mark.parametrize(
    "exc", [TypeError("got an unexpected keyword 'x'"), KeyError("region"), ImportError("no module named q")]
)
def test_a_bug_says_it_is_a_bug(capsys, monkeypatch, tmp_path, exc):
    """TypeError, KeyError, ImportError (and anything else not raised on purpose) are organtwin's bugs, not the user's."""
    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", _raise(exc))
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "m.vtu")
    assert rc == 1
    line = one_error_line(err, only=True)
    assert line.startswith(f"organtwin: error: internal error: {type(exc).__name__}: ")
    assert "this is a bug in organtwin; run again with --debug for the traceback and please report it" in line


def test_a_library_value_error_inside_organtwin_is_a_bug(capsys, monkeypatch, tmp_path):
    """A ValueError that is not an `OrgantwinError` (here numpy's, as a wrong call inside organtwin would make) is a
    bug; the same check raised as organtwin raises its checks (`InputError`) is the user's, on one line."""
    import numpy as np

    from organtwin import InputError

    def wrong_call(*args, **kwargs):
        return np.zeros(3).reshape(2, 2)

    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", wrong_call)
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "m.vtu")
    assert rc == 1 and "internal error: ValueError: cannot reshape" in one_error_line(err, only=True)

    def check(*args, **kwargs):
        raise InputError("dx must be positive, got -1 mm")

    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", check)
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "m.vtu")
    assert rc == 1 and one_error_line(err, only=True) == "organtwin: error: dx must be positive, got -1 mm"


def test_the_library_raises_no_plain_value_or_runtime_error():
    """Every check the library makes raises a family error (the CLI prints only those as the user's): no
    ``raise ValueError(`` / ``raise RuntimeError(`` left in organtwin's sources."""
    import re

    found = [
        f"{p.relative_to(PACKAGE.parent)}:{k + 1}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines())
        if re.search(r"\braise (ValueError|RuntimeError)\(", line)
    ]
    assert found == []


def test_family_and_solver_outcomes_are_one_line(capsys, monkeypatch, tmp_path):
    import equinox as eqx
    import jax.numpy as jnp

    from organtwin import RESULTS

    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", _raise(E.CaseError("case.toml: [stimulus] t0: must be >= 0")))
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "m.vtu")
    assert (rc, one_error_line(err, only=True)) == (1, "organtwin: error: case.toml: [stimulus] t0: must be >= 0")

    message = RESULTS[RESULTS.diverged]

    def diverge(*args, **kwargs):  # a solver outcome raised by eqx.error_if, eagerly (equinox adds its advice)
        return eqx.error_if(jnp.zeros(2), jnp.array(True), message)

    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", diverge)
    rc, _, err = run_cli(capsys, "mesh", "info", tmp_path / "m.vtu")
    assert (rc, one_error_line(err, only=True)) == (1, "organtwin: error: " + " ".join(message.split()))


def test_debug_raises_with_the_traceback(capsys, monkeypatch, tmp_path):
    from organtwin.cli._main import main

    monkeypatch.setattr(_mesh_commands, "read_mesh_cli", _raise(TypeError("boom")))
    for argv in (["--debug", "mesh", "info", "m.vtu"], ["mesh", "info", "m.vtu", "--debug"]):
        with pytest.raises(TypeError, match="boom"):
            main(argv)
    with pytest.raises(E.MeshError):  # the user's errors too, for a bug report
        monkeypatch.setattr(_mesh_commands, "read_mesh_cli", _raise(E.MeshError("bad mesh")))
        main(["--debug", "mesh", "info", "m.vtu"])


def test_debug_through_the_console_script(tmp_path):
    """The installed script prints the traceback and exits 1 (the signal handling is kept)."""
    cmd = [sys.executable, "-c", "from organtwin.cli import main; main()"]
    r = subprocess.run(
        [*cmd, "mesh", "info", str(tmp_path / "none.vtu"), "--debug"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr and "MeshError" in r.stderr and "none.vtu" in r.stderr
