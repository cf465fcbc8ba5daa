"""Test configuration: verification tests run in float64 (set here, never on import of organtwin)."""

import os

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax

jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. One process runs the whole suite, and every compiled
    XLA executable keeps memory mappings: the suite's thousands of compilations came within reach of the kernel's
    vm.max_map_count (65,530 here) and XLA aborted mid-compilation. Each module compiles what it needs anew."""
    yield
    jax.clear_caches()
