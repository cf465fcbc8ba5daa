"""Helpers shared by the test modules: central finite differences (the reference every gradient test compares the
automatic derivative against) and the small slabs several modules build alike (`two_region_slab`, `write_slab`).
Shared mesh fixtures (the built-in meshes, read once per module) are in tests/conftest.py; other mesh builders live in
tests/problems.py (manufactured problems, `box_mesh`) and tests/make_meshes.py (broken and special meshes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

import jaxtyping
import numpy as np


def central_difference(f: Callable, x, direction, h: float):
    """``(f(x + h d) - f(x - h d)) / (2 h)``: the derivative of ``f`` at ``x`` along ``d``, error O(h²)."""
    return (f(x + h * direction) - f(x - h * direction)) / (2 * h)


def central_gradient(f: Callable, x, h: float = 1e-6, indices: Iterable[int] | None = None) -> np.ndarray:
    """The derivative of ``f`` (scalar- or array-valued) by each component ``i`` of the float64 vector ``x`` (every
    one, or those in ``indices``), with the step ``h * max(|x_i|, 1)``: relative for large components, absolute for
    small ones. Stacked along the first axis."""
    x = np.asarray(x, float)
    out = []
    for i in range(x.size) if indices is None else indices:
        e = np.zeros_like(x)
        e[i] = h * max(abs(x[i]), 1.0)
        out.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * e[i]))
    return np.array(out)


def central_differences(f: Callable, x, directions: Iterable, rel: float) -> np.ndarray:
    """The derivative of the scalar ``f`` along each direction, with a step that changes no component of ``x`` by more
    than ``rel`` relative."""
    out = []
    for d in directions:
        ratio = np.max(np.abs(np.asarray(d)) / np.maximum(np.abs(np.asarray(x)), 1e-12))
        h = rel / ratio
        out.append((float(f(x + h * d)) - float(f(x - h * d))) / (2 * h))
    return np.array(out)


# ====================================================================================================== small slabs
def two_region_slab(size: tuple[float, float, float], dx: float, names: dict | None = None):
    """``slab_mesh(size, dx)`` cut across x at its middle: region 1 (tet centres at x < size[0] / 2) and region 2,
    named by ``names`` ({1: ..., 2: ...}) when given."""
    from organtwin.mesh import slab_mesh

    m = slab_mesh(size, dx)
    centre_x = np.asarray(m.points)[np.asarray(m.tets)].mean(axis=1)[:, 0]
    regions = np.where(centre_x < size[0] / 2, 1, 2)
    return m.replace(regions=regions) if names is None else m.replace(regions=regions, region_names=names)


def write_slab(folder: Path, name: str = "slab.vtu", size=(4.0, 1.0, 1.0), dx: float = 0.5) -> Path:
    """``slab_mesh(size, dx)`` written as ``folder / name`` (default: the 4 x 1 x 1 mm slab at 0.5 mm, 81 nodes, that
    the ep-run tests run their case files on)."""
    from organtwin.mesh import slab_mesh, write_mesh

    return write_mesh(slab_mesh(size, dx), Path(folder) / name)


@contextlib.contextmanager
def unchecked():
    """Run a call without jaxtyping's run-time type checks (the suite runs with ``--jaxtyping-packages=organtwin,
    beartype.beartype``): for the tests of organtwin's own refusal of a misused argument (a wrong type or shape), which
    users without the checker see. Under the checker the same call is refused earlier by a ``TypeCheckError``."""
    old = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", old)
