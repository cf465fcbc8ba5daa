"""Earliest-activation sites on a mesh (`EikonalSite`): the default radius of their source balls and the check, before
a solve, that each site selects a mesh node, naming the nearest node and its distance when it does not.

`simulate_eikonal` on its own refuses only sites that select no node at all (together); `eikonal_sites` and
`check_sites` check each one, and a site given without a radius (``radius = 0``: the nearest node alone) more than
three mean edges off the mesh (a site in the wrong units, or on another mesh) is refused too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import ArrayLike

from .._errors import InputError
from ._eikonal import EikonalSite

__all__ = ["default_site_radius", "check_sites", "eikonal_sites"]

#: A site with ``radius = 0`` farther than this many mean edge lengths from every node is refused.
_OFF_MESH_EDGES = 3.0


def default_site_radius(mesh) -> float:
    """The default radius of a site's source ball, mm: 1.5 mean edge lengths of ``mesh`` (anything with ``points``
    and ``tets``: a `Mesh`, an `EikonalTissue`), so that the ball holds a few nodes."""
    from ..mesh import mean_edge_length

    return 1.5 * mean_edge_length(mesh)


def _check(mesh, positions: np.ndarray, radii: Sequence[float], names: Sequence[str], radius_hint: str) -> None:
    pts = np.asarray(mesh.points, np.float64)
    mean_edge = None
    for name, p, radius in zip(names, positions, radii):
        d = np.sqrt(np.sum((pts - p) ** 2, axis=1))
        i = int(np.argmin(d))
        at = ", ".join(f"{v:.4g}" for v in pts[i])
        if radius > 0 and not d[i] <= radius:
            raise InputError(
                f"{name}: no mesh node within {radius:.3g} mm of it; the nearest mesh node is {i} at ({at}) mm, "
                f"{d[i]:.3g} mm away (check the units, move the site onto the mesh, or raise {radius_hint})"
            )
        if radius == 0:
            if mean_edge is None:
                from ..mesh import mean_edge_length

                mean_edge = mean_edge_length(mesh)
            if d[i] > _OFF_MESH_EDGES * mean_edge:
                raise InputError(
                    f"{name}: the site is {d[i]:.3g} mm from the mesh (more than 3 mean edges); the nearest mesh "
                    f"node is {i} at ({at}) mm; move the site onto the mesh (check the units)"
                )


def check_sites(
    mesh, sites: Sequence[EikonalSite], *, names: Sequence[str] | None = None, radius_hint: str = "the site's radius"
) -> None:
    """Check that each site selects a node of ``mesh`` (a `Mesh` or an `EikonalTissue`): a node within its radius, or,
    with ``radius = 0``, a nearest node at most three mean edges away. Host-side (concrete positions only).

    Args:
        names: how the messages name each site (default ``site 0``, ``site 1``, ...).
        radius_hint: what to raise, in the message (e.g. a command-line option).

    Raises:
        InputError: a site off the mesh, naming the nearest node, its position and its distance (mm).
    """
    sites = tuple(sites)
    names = [f"site {k}" for k in range(len(sites))] if names is None else list(names)
    positions = np.stack([np.asarray(s.position, np.float64).reshape(3) for s in sites]) if sites else np.zeros((0, 3))
    _check(mesh, positions, [s.radius for s in sites], names, radius_hint)


def eikonal_sites(
    mesh,
    sites: Sequence[tuple[Sequence[float] | ArrayLike, float]],
    *,
    radius: float | None = None,
    dtype=None,
    names: Sequence[str] | None = None,
    radius_hint: str = "the site's radius",
) -> tuple[EikonalSite, ...]:
    """`EikonalSite` s from ``(position (3,) mm, onset ms)`` pairs on ``mesh``, each checked to select a node
    (`check_sites`, in float64 before the cast to ``dtype``).

    Args:
        radius: the radius of every site's source ball, mm (>= 0); default `default_site_radius`. ``0``: the
            nearest node alone (as fim-python's ``x0``).
        dtype: the dtype of the positions and onsets (default: JAX's default float).
        names, radius_hint: as `check_sites`.

    Raises:
        InputError: a negative or non-finite radius, or a site off the mesh (`check_sites`).
    """
    import jax.numpy as jnp

    r = default_site_radius(mesh) if radius is None else float(radius)
    if not (np.isfinite(r) and r >= 0):
        raise InputError(f"eikonal_sites: the site radius must be a length >= 0 in mm, got {radius}")
    sites = [(np.asarray(p, np.float64).reshape(3), float(t)) for p, t in sites]
    names = [f"site {k}" for k in range(len(sites))] if names is None else list(names)
    positions = np.stack([p for p, _ in sites]) if sites else np.zeros((0, 3))
    _check(mesh, positions, [r] * len(sites), names, radius_hint)
    return tuple(EikonalSite(jnp.asarray(p, dtype), jnp.asarray(t, dtype), radius=r) for p, t in sites)
