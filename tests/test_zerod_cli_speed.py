"""`organtwin flow zerod`'s start-up (issue 25, item 5): JAX's persistent compilation cache, on by default for the
command line and never set by the library; light imports; one compilation however many cycles are run.

The timings themselves are benchmarks/zerod_cli_speed.py's (benchmarks/RESULTS.md); these tests check the mechanisms.
"""

from __future__ import annotations

import ast
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from organtwin.cli._jax_cache import CACHE_ENV, cache_dir, use_compilation_cache

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "zerod"

# what the command itself must not import (the library's other fields, pictures, meshes); scipy is not among them:
# jaxlib's LAPACK (jnp.linalg.solve's LU, in the implicit integrators' Newton steps) loads it
_HEAVY = ("organtwin.io", "organtwin.ep", "organtwin.mesh", "organtwin.calibrate", "organtwin.viz", "optax")
_HEAVY += ("matplotlib", "pyvista", "meshio")


# ---------------------------------------------------------------------------------------------------- where it lives
def test_cache_dir_follows_the_environment(tmp_path):
    home = Path.home()
    assert cache_dir({}) == home / ".cache" / "organtwin" / "jax"
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "organtwin" / "jax"
    assert cache_dir({"XDG_CACHE_HOME": "relative/dir"}) == home / ".cache" / "organtwin" / "jax"  # XDG: absolute only
    assert cache_dir({CACHE_ENV: str(tmp_path / "c"), "XDG_CACHE_HOME": "/x"}) == tmp_path / "c"
    assert cache_dir({"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "j"), "XDG_CACHE_HOME": "/x"}) == tmp_path / "j"
    assert cache_dir({CACHE_ENV: str(tmp_path / "c"), "JAX_COMPILATION_CACHE_DIR": "/j"}) == tmp_path / "c"
    for off in ("", "0", "off", "OFF", "no", "false"):
        assert cache_dir({CACHE_ENV: off}) is None
        assert cache_dir({CACHE_ENV: off, "JAX_COMPILATION_CACHE_DIR": "/j"}) is None  # JAX's own, left to JAX


def test_the_library_never_sets_the_cache():
    """Process-wide settings are the application's (organtwin/cli): no module of the library names JAX's cache
    options or the cache module (read statically, every module outside organtwin/cli)."""
    words = ("compilation_cache", "persistent_cache", "_jax_cache", "use_compilation_cache")
    found = []
    for path in sorted((ROOT / "organtwin").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "organtwin").parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.Attribute):
                text = node.attr
            elif isinstance(node, ast.Name):
                text = node.id
            elif isinstance(node, ast.ImportFrom):
                text = node.module or ""
            if text and any(w in text for w in words) and not isinstance(node, ast.Expr):
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert not found, found


# ------------------------------------------------------------------------------------------------------ the command
def _run(args: list[str], env: dict[str, str], probe: bool = False) -> subprocess.CompletedProcess:
    """The command line in a fresh process (the cache is per process); ``probe``: also print, as JSON on the last line,
    which heavy modules the command imported."""
    code = (
        "import json, sys\n"
        "from organtwin.cli._main import main\n"
        f"rc = main({args!r})\n"
        f"print(json.dumps([m for m in {_HEAVY!r} if m in sys.modules]))\n"
        "sys.exit(rc)\n"
    )
    if not probe:
        code = f"import sys; from organtwin.cli._main import main; sys.exit(main({args!r}))"
    cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith("-cache")} if folder.is_dir() else set()


def _kept(folder: Path) -> dict[str, int]:
    """The traced programs kept in the cache folder (`organtwin.flow.zerod._kept`), by name: their mtimes (ns)."""
    kept = folder / "exported"
    return {p.name: p.stat().st_mtime_ns for p in kept.iterdir()} if kept.is_dir() else {}


def test_second_run_loads_every_program_from_the_cache(tmp_path):
    """Run 1 fills the cache folder: XLA's programs (JAX's own cache: no host callbacks in them) and the traced solve
    and Jacobian (jax.export); run 2 traces neither again (the kept files are read, not rewritten), compiles nothing
    new (no entry added: every program was a hit) and writes the same CSV; neither imports what the command does not
    use (organtwin.io, EP, meshes, calibration, pictures)."""
    cache = tmp_path / "cache"
    env = {**os.environ, CACHE_ENV: str(cache)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    config = str(DATA / "steady_vessel.json")
    first = _run(["flow", "zerod", config, "--out", str(tmp_path / "a.csv")], env)
    assert first.returncode == 0, first.stderr
    after_first, kept = _entries(cache), _kept(cache)
    assert any(name.startswith("jit_call_exported-") for name in after_first), after_first  # the solve
    assert {name.split("-")[0] for name in kept} == {"svzerod_run", "zerod_jacobian"}, kept
    second = _run(["flow", "zerod", config, "--out", str(tmp_path / "b.csv")], env, probe=True)
    assert second.returncode == 0, second.stderr
    assert _entries(cache) == after_first  # nothing compiled anew
    assert _kept(cache) == kept  # nothing traced anew
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert json.loads(second.stdout.strip().splitlines()[-1]) == []


def test_the_command_imports_equinox_without_callbacks(tmp_path):
    """The command's process imports equinox with EQX_ON_ERROR=nan (no host callbacks: JAX's own cache keeps the
    solve, no change to JAX), without leaving the variable to the processes it starts; a user's own EQX_ON_ERROR is
    left as it is. No JAX function is replaced."""
    from organtwin.cli._jax_cache import checks_without_callbacks

    code = (
        "import os, sys, jax._src.compiler as c\n"
        "before = (c.compile_or_get_cached, c._cache_write)\n"
        "from organtwin.cli._jax_cache import checks_without_callbacks, use_compilation_cache\n"
        "ok = checks_without_callbacks()\n"
        "use_compilation_cache(True)\n"
        "from equinox._config import EQX_ON_ERROR\n"
        "print(ok, EQX_ON_ERROR, os.environ.get('EQX_ON_ERROR'), before == (c.compile_or_get_cached, c._cache_write))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EQX_ON_ERROR"}
    env[CACHE_ENV] = str(tmp_path / "cache")

    def run(**extra: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()

    assert run() == ["True", "nan", "None", "True"]
    assert run(EQX_ON_ERROR="raise") == ["False", "raise", "raise", "True"]
    import equinox._config

    if "EQX_ON_ERROR" not in os.environ:
        assert checks_without_callbacks() is False  # this process imported equinox already: nothing changes
        assert "EQX_ON_ERROR" not in os.environ

    assert equinox._config.EQX_ON_ERROR == os.environ.get("EQX_ON_ERROR", "raise")


def test_an_unreadable_cache_entry_is_one_note(tmp_path):
    """Cache entries and kept programs cut short (or another JAX's): each is compiled or traced afresh, the run
    succeeds with the same CSV, and stderr holds one warning line each (as the command line shows warnings), no
    traceback or Python warning."""
    cache = tmp_path / "cache"
    env = {**os.environ, CACHE_ENV: str(cache)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    config = str(DATA / "steady_vessel.json")
    first = _run(["flow", "zerod", config, "--out", str(tmp_path / "a.csv")], env)
    assert first.returncode == 0, first.stderr
    for entry in [*cache.iterdir(), *(cache / "exported").iterdir()]:
        if entry.name.endswith(("-cache", ".jaxexport")):
            entry.write_bytes(entry.read_bytes()[:20])
    second = _run(["flow", "zerod", config, "--out", str(tmp_path / "b.csv")], env)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    notes = second.stderr.strip().splitlines()
    assert notes and all(n.startswith("organtwin: warning: ") for n in notes), second.stderr
    assert "Traceback" not in second.stderr and "Warning:" not in second.stderr, second.stderr
    assert any("kept program" in n for n in notes) and any("compilation cache" in n for n in notes), notes
    third = _run(["flow", "zerod", config, "--out", str(tmp_path / "c.csv")], env)  # the kept programs replaced
    assert third.returncode == 0 and "kept program" not in third.stderr, third.stderr  # (JAX's own: not rewritten)


def test_no_cache_and_the_environment_switch_it_off(tmp_path):
    """``--no-cache`` and ``ORGANTWIN_JAX_CACHE=off``: nothing is written in the folder (in this process, JAX's cache
    as the test session has it is restored after)."""
    from organtwin.cli._main import main

    cache = tmp_path / "cache"
    before = jax.config.jax_enable_compilation_cache
    old = os.environ.get(CACHE_ENV)
    try:
        os.environ[CACHE_ENV] = str(cache)
        assert (
            main(["flow", "zerod", str(DATA / "steady_vessel.json"), "--out", str(tmp_path / "a.csv"), "--no-cache"])
            == 0
        )
        assert (tmp_path / "a.csv").is_file() and not cache.exists()
        assert use_compilation_cache(True, environ={CACHE_ENV: "off", "JAX_COMPILATION_CACHE_DIR": "/x"}) is None
        assert not cache.exists() and jax.config.jax_compilation_cache_dir != str(cache)
    finally:
        jax.config.update("jax_enable_compilation_cache", before)
        if old is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = old


# ------------------------------------------------------------------------------------------- one compilation, N cycles
def _compilations(config: dict) -> collections.Counter:
    """The programs XLA compiled while `run_svzerod` ran ``config`` (JAX's own compile events, by program name)."""
    from jax._src import monitoring

    from organtwin.flow.zerod import read_svzerod, run_svzerod

    names: collections.Counter = collections.Counter()

    def listen(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            names[kwargs.get("fun_name", "?")] += 1

    jax.clear_caches()  # compile afresh, so both runs count every program they need
    monitoring.register_event_duration_secs_listener(listen)
    try:
        run_svzerod(read_svzerod(config))
    finally:
        monitoring.unregister_event_duration_listener(listen)
    return names


@pytest.mark.parametrize("name", ["steady_vessel.json", "cycle_error_coronary.json"])
def test_cycles_do_not_recompile(name):
    """Twice the cycles, the same compilations: steady_vessel runs all its cycles in one solve (the loop is diffrax's
    lax.while_loop), cycle_error_coronary (use_cycle_to_cycle_error, no RCR) one compiled cycle called again and
    again, its start time an argument."""
    config = json.loads((DATA / name).read_text())
    sim = config["simulation_parameters"]
    counts = []
    for cycles in (2, 4):
        sim["number_of_cardiac_cycles"] = cycles
        counts.append(_compilations(config))
    assert counts[0] == counts[1], counts
    solve = "jit(run)" if name == "steady_vessel.json" else "jit(cycle)"
    assert counts[0][solve] == 1, counts[0]  # the solve: compiled once
