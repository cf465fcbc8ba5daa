"""Test configuration: verification tests run in float64 (set here, never on import of organtwin). The checked run
(``pytest --jaxtyping-packages=...``, pyproject.toml) also makes implicit rank promotion an error, here and in the
commands the tests start."""

import os

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The command line keeps compiled programs in a per-user cache (organtwin/cli/_jax_cache.py): not from the tests, in
# this process or the commands they start (tests/test_zerod_cli_speed.py gives its own folder where it tests it).
os.environ["ORGANTWIN_JAX_CACHE"] = "off"
# The suite's own compilation cache: JAX's persistent cache (plain JAX, nothing patched), in one folder per run shared
# by the xdist workers and the commands the tests start (the variables are inherited), removed at the end of the run.
# The suite compiles the same programs again and again: `_release_compiled_programs` drops them after every module,
# and every command a test starts compiles afresh; a program compiled once is loaded from disk after that. A folder
# the developer gave (JAX_COMPILATION_CACHE_DIR) is used as it is and kept. ORGANTWIN_TEST_JAX_CACHE=off: no cache.
_SUITE_CACHE = None
if os.environ.get("ORGANTWIN_TEST_JAX_CACHE", "on").lower() not in {"", "0", "off", "no", "false"}:
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        import tempfile

        _SUITE_CACHE = tempfile.mkdtemp(prefix="organtwin-test-jax-cache-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = _SUITE_CACHE
        os.environ["ORGANTWIN_TEST_JAX_CACHE_OWNER"] = str(os.getpid())
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import jax  # noqa: E402  (after the environment above, which JAX reads at import)

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402


def pytest_configure(config):
    """The checked run: no implicit rank promotion ((n, 3) - (3,)); every broadcast in organtwin is written out."""
    if config.getoption("jaxtyping_packages", default=None):
        jax.config.update("jax_numpy_rank_promotion", "raise")
        os.environ["JAX_NUMPY_RANK_PROMOTION"] = "raise"  # the commands the tests start, too


def pytest_unconfigure(config):
    """The run's own cache folder goes with the run (the process that made it removes it, after its workers)."""
    if _SUITE_CACHE and os.environ.get("ORGANTWIN_TEST_JAX_CACHE_OWNER") == str(os.getpid()):
        import shutil

        shutil.rmtree(_SUITE_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. One process runs the whole suite, and every compiled
    XLA executable keeps memory mappings: the suite's thousands of compilations came within reach of the kernel's
    vm.max_map_count (65,530 here) and XLA aborted mid-compilation. Each module compiles what it needs anew."""
    yield
    jax.clear_caches()


# ====================================================================================== meshes shared by the test modules
# The mesh fixtures several modules build alike live here (module scope, as they were in the modules), the mesh builders
# in tests/_helpers.py (small slabs), tests/problems.py (boxes for manufactured problems) and tests/make_meshes.py
# (broken and special meshes, round-trip comparison).
@pytest.fixture(scope="module")
def builtin_biv():
    """The built-in biventricular mesh (meshes/biv.vtu), read once per module."""
    from organtwin.mesh import builtin_mesh_path, read_mesh

    return read_mesh(builtin_mesh_path("biv"))


@pytest.fixture(scope="module")
def builtin_lv():
    """The built-in LV ellipsoid (meshes/lv_ellipsoid.vtu), read once per module."""
    from organtwin.mesh import builtin_mesh_path, read_mesh

    return read_mesh(builtin_mesh_path("lv_ellipsoid"))


# ======================================================================================== time per test file (the suite)
# The suite runs with --dist loadfile: a file is the unit a worker takes, so the file totals (setup + call + teardown
# of its tests) are what decide the suite's wall time on the 2-core CI machine. Printed after --durations' list.
_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + float(getattr(report, "duration", 0.0) or 0.0)


def pytest_terminal_summary(terminalreporter):
    if not _FILE_SECONDS or hasattr(terminalreporter.config, "workerinput"):
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.section(f"seconds per test file (the 25 slowest of {len(_FILE_SECONDS)}; all: {total:.0f} s)")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
