"""An activation map of a mesh from earliest-activation sites by the anisotropic eikonal model: the regions kept, the
fibres chosen and checked against the velocities asked for, the sites checked, the solve, and the mesh returned with the
point array ``activation_time`` (ms; NaN where the front never arrived). What `organtwin activate` runs."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from .._errors import MeshError, MeshWarning
from ..mesh import Mesh

__all__ = ["ActivationMap", "eikonal_activation_map"]


@dataclasses.dataclass(frozen=True)
class ActivationMap:
    """The outcome of `eikonal_activation_map` (host values).

    Attributes:
        mesh: the mesh solved on (regions kept, fibres chosen) with point data ``activation_time`` (ms, NaN where
            unreached).
        activation: (nodes,) activation time, ms (``inf`` where unreached).
        sites: number of sites; radius: their source balls' radius, mm; sweeps: sweeps of the solver; solve_s: its
            wall time (with compilation).
    """

    mesh: Mesh
    activation: np.ndarray
    sites: int
    radius: float
    sweeps: int
    solve_s: float

    def describe(self) -> list[str]:
        """Size, sites and solve; the range of activation times. Unreached nodes are a `MeshWarning`."""
        act, mesh = self.activation, self.mesh
        reached = np.isfinite(act)
        lines = [
            f"{mesh.n_nodes} nodes, {mesh.n_cells} tets; {self.sites} site{'s' if self.sites > 1 else ''} "
            f"(source radius {self.radius:.3g} mm); {self.sweeps} sweeps in {self.solve_s:.2f} s (incl. compilation)"
        ]
        if reached.any():
            lines.append(
                f"activation {act[reached].min():.4g} .. {act[reached].max():.4g} ms; {int(reached.sum())} of "
                f"{act.size} nodes reached"
            )
        if not reached.all():
            warnings.warn(
                f"activation reached {int(reached.sum())} of {act.size} nodes ({100 * reached.mean():.1f}%); "
                f"{int((~reached).sum())} unreached nodes (a part not connected to any site?) are written as "
                f"NaN in activation_time",
                MeshWarning,
                stacklevel=2,
            )
        return lines


def eikonal_activation_map(
    mesh: Mesh,
    sites: Sequence[tuple[Sequence[float], float]],
    cv_fibre: float,
    cv_transverse: float | None = None,
    cv_normal: float | None = None,
    *,
    regions: Sequence[int] | None = None,
    fibres: str = "mesh",
    fast_endocardium: Sequence[str] | None = None,
    cv_endo: float = 2.0,
    radius: float | None = None,
    dtype=None,
    names: Sequence[str] | None = None,
    radius_hint: str = "the site's radius",
    source: str = "mesh",
    say: Callable[[str], None] | None = None,
) -> ActivationMap:
    """Activation times (ms) of ``mesh`` from ``sites`` ((x, y, z) mm, onset ms) with conduction velocities (m/s) along
    the fibre, across it (default: ``cv_fibre``) and along the sheet normal (default: transversely isotropic).

    ``regions``: keep only these region ids. ``fibres``: ``"mesh"``, ``"rule-based"`` or ``"none"``
    (`organtwin.mesh.choose_fibres`; its one-line description goes to ``say``). ``fast_endocardium``: surface names whose
    adjacent cells conduct at ``cv_endo``. ``radius``: the sites' source balls (default 1.5 mean edges; 0: the nearest
    node). Raises `MeshError` for a missing region, fibres or sheets the velocities need, and `InputError` for a site
    off the mesh (`eikonal_sites`)."""
    import jax

    from ..mesh import choose_fibres
    from ._eikonal import ConductionVelocity, EikonalTissue, simulate_eikonal
    from ._sites import eikonal_sites

    if regions is not None:
        missing = sorted(set(regions) - set(mesh.region_ids.tolist()))
        if missing:
            raise MeshError(f"--regions: no region {missing[0]} in {source} (regions: {mesh.region_ids.tolist()})")
        mesh = mesh.submesh(list(regions))
    vt = cv_fibre if cv_transverse is None else cv_transverse
    anisotropic = vt != cv_fibre or cv_normal is not None
    mesh, used = choose_fibres(mesh, fibres, source=source, needs_fibres=anisotropic and fibres == "none")
    if say is not None:
        say(used)
    if vt != cv_fibre and mesh.fibres is None:
        raise MeshError(
            f"{source} has no fibres, needed for --cv-transverse != --cv-fibre; use --fibres "
            f"rule-based, add them with `organtwin mesh fibres`, or give equal velocities"
        )
    if cv_normal is not None and mesh.sheets is None:
        raise MeshError(
            f"{source} has no sheet directions, needed for --cv-normal; drop it (transversely "
            f"isotropic) or add fibres with sheets (`organtwin mesh fibres`)"
        )
    objs = eikonal_sites(mesh, sites, radius=radius, dtype=dtype, names=names, radius_hint=radius_hint)
    velocity = ConductionVelocity(cv_fibre, vt, cv_normal)  # pyright: ignore[reportArgumentType]
    endo = None if fast_endocardium is None else tuple(fast_endocardium)
    tissue = EikonalTissue.from_mesh(mesh, velocity, fast_endocardium=endo, fast_velocity=cv_endo, dtype=dtype)
    t0 = time.perf_counter()
    res = simulate_eikonal(tissue, objs)
    act = np.asarray(jax.block_until_ready(res.activation), np.float64)
    solve_s = time.perf_counter() - t0
    mesh = mesh.replace(point_data={**mesh.point_data, "activation_time": np.where(np.isfinite(act), act, np.nan)})
    return ActivationMap(mesh, act, len(objs), float(objs[0].radius), int(res.sweeps), solve_s)
