"""Helpers shared by the test modules: central finite differences (the reference every gradient test compares the
automatic derivative against). Mesh builders live in tests/problems.py (manufactured problems, `box_mesh`) and
tests/make_meshes.py (broken and special meshes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
