"""`organtwin activate MESH --site X,Y,Z[@T] ... --cv-fibre V --cv-transverse V --out FILE.vtu`: eikonal activation times.

Reads the mesh (any format `organtwin mesh info` reads), keeps ``--regions`` if given, solves the anisotropic eikonal
equation from the sites (organtwin.ep.simulate_eikonal) and writes the mesh it read (or the selected regions) with the
point array ``activation_time`` (ms) (atomically). JAX is imported inside the command.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from .._errors import MeshError, MeshWarning
from ._mesh_options import NameMap, RegionField, RegionNames, SurfaceField, SurfaceNames, read_mesh_cli

__all__ = ["activate"]


def _parse_site(text: str) -> tuple[tuple[float, float, float], float]:
    body, _, onset = text.partition("@")
    try:
        xyz = tuple(float(v) for v in body.replace(" ", "").split(","))
        t = float(onset) if onset else 0.0
    except ValueError:
        xyz, t = (), math.nan
    if len(xyz) != 3 or not all(math.isfinite(v) for v in xyz) or not math.isfinite(t):
        raise typer.BadParameter(f"--site must be X,Y,Z (mm) or X,Y,Z@T (T the onset, ms), got {text!r}")
    return xyz, t


def _positive(name: str, v: float | None) -> None:
    if v is not None and not (math.isfinite(v) and v > 0):
        raise typer.BadParameter(f"{name} must be a positive velocity in m/s (= mm/ms), got {v}")


def activate(
    mesh_path: Annotated[
        Path, typer.Argument(metavar="MESH", help="Mesh file (VTU, VTK, MSH, XDMF, openCARP, ...), mm.")
    ],
    site: Annotated[
        list[str],
        typer.Option(
            "--site",
            help="Earliest-activation site X,Y,Z in mm, optionally @T with the onset in ms (e.g. 0,0,-60@5); repeat "
            "for more sites.",
        ),
    ],
    cv_fibre: Annotated[float, typer.Option("--cv-fibre", help="Conduction velocity along the fibre, m/s.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The mesh to write, with point data activation_time (ms).")],
    cv_transverse: Annotated[
        float | None,
        typer.Option(
            "--cv-transverse",
            help="Across the fibre (along the sheet when --cv-normal is given), m/s; default: --cv-fibre.",
        ),
    ] = None,
    cv_normal: Annotated[
        float | None,
        typer.Option(
            "--cv-normal", help="Along the sheet normal, m/s (needs sheets on the mesh); default: --cv-transverse."
        ),
    ] = None,
    regions: Annotated[str | None, typer.Option(help="Keep only these region ids, e.g. 1,2.")] = None,
    fast_endo: Annotated[
        str | None,
        typer.Option(
            "--fast-endo",
            help="Surface name(s), comma-separated, whose adjacent cells conduct fast (a Purkinje stand-in), e.g. "
            "endo_lv,endo_rv.",
        ),
    ] = None,
    cv_endo: Annotated[float, typer.Option("--cv-endo", help="Velocity of the fast endocardial layer, m/s.")] = 2.0,
    site_radius: Annotated[
        float | None,
        typer.Option(
            "--site-radius",
            help="Radius of each site's source ball, mm (default: 1.5 x the mean edge); 0: the nearest node only (as "
            "fim-python's x0).",
        ),
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help="Multiply coordinates by this factor (e.g. 1000 for m -> mm).")
    ] = None,
    float64: Annotated[bool, typer.Option("--float64", help="Compute in float64 (default float32).")] = False,
    fibres: Annotated[
        str,
        typer.Option(
            "--fibres",
            help="Which fibres: mesh (the file's arrays, checked), rule-based (Bayer, from surfaces endo_lv, endo_rv "
            "if present, epi, base) or none (isotropic; needs equal velocities).",
        ),
    ] = "mesh",
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Activation times (ms) from an anisotropic eikonal model: sites, fibre/transverse/normal velocities, regions."""
    from ..mesh import FIBRE_CHOICES, check_mesh, choose_fibres, write_mesh

    sites = [_parse_site(s) for s in site]
    if fibres not in FIBRE_CHOICES:
        raise typer.BadParameter(f"--fibres must be one of {', '.join(FIBRE_CHOICES)}, got {fibres!r}")
    for name, v in (
        ("--cv-fibre", cv_fibre),
        ("--cv-transverse", cv_transverse),
        ("--cv-normal", cv_normal),
        ("--cv-endo", cv_endo),
    ):
        _positive(name, v)
    if site_radius is not None and not (math.isfinite(site_radius) and site_radius >= 0):
        raise typer.BadParameter(f"--site-radius must be a length >= 0 in mm, got {site_radius}")
    from ._mesh_options import check_output_files

    check_output_files([(out, "--out")], inputs=[mesh_path])  # before the work; never over the input mesh

    t0 = time.perf_counter()
    read = functools.partial(
        read_mesh_cli, mesh_path, scale=scale, region_names=region_names, surface_names=surface_names,
        name_map=name_map, region_field=region_field, surface_field=surface_field,
    )  # fmt: skip
    if fibres == "mesh":
        mesh = read()
    else:  # the file's fibre arrays are replaced: they must not stop the read
        mesh = check_mesh(read(check=False).replace(fibres=None, sheets=None), source=str(mesh_path))
    if regions is not None:
        try:
            keep = [int(r) for r in regions.replace(" ", "").split(",") if r]
        except ValueError:
            raise typer.BadParameter(
                f"--regions must be comma-separated integer ids like 1,2, got {regions!r}"
            ) from None
        missing = sorted(set(keep) - set(mesh.region_ids.tolist()))
        if missing:
            raise MeshError(f"--regions: no region {missing[0]} in {mesh_path} (regions: {mesh.region_ids.tolist()})")
        mesh = mesh.submesh(keep)
    vt = cv_fibre if cv_transverse is None else cv_transverse
    import jax

    if float64:  # before rule-based fibres are computed
        jax.config.update("jax_enable_x64", True)  # the user's edge: asked for on the command line
    anisotropic = vt != cv_fibre or cv_normal is not None
    mesh, used = choose_fibres(mesh, fibres, source=str(mesh_path), needs_fibres=anisotropic and fibres == "none")
    print(used, flush=True)
    if vt != cv_fibre and mesh.fibres is None:
        raise MeshError(
            f"{mesh_path} has no fibres, needed for --cv-transverse != --cv-fibre; use --fibres "
            f"rule-based, add them with `organtwin mesh fibres`, or give equal velocities"
        )
    if cv_normal is not None and mesh.sheets is None:
        raise MeshError(
            f"{mesh_path} has no sheet directions, needed for --cv-normal; drop it (transversely "
            f"isotropic) or add fibres with sheets (`organtwin mesh fibres`)"
        )

    import jax.numpy as jnp
    import numpy as np

    from ..ep import ConductionVelocity, EikonalTissue, eikonal_sites, simulate_eikonal

    dtype = jnp.float64 if float64 else jnp.float32
    objs = eikonal_sites(
        mesh, sites, radius=site_radius, dtype=dtype, names=[f"--site {t}" for t in site], radius_hint="--site-radius"
    )
    radius = objs[0].radius
    endo = None if fast_endo is None else tuple(s.strip() for s in fast_endo.split(",") if s.strip())
    tissue = EikonalTissue.from_mesh(
        mesh, ConductionVelocity(cv_fibre, vt, cv_normal), fast_endocardium=endo, fast_velocity=cv_endo, dtype=dtype
    )
    t1 = time.perf_counter()
    res = simulate_eikonal(tissue, objs)
    act = np.asarray(jax.block_until_ready(res.activation), np.float64)
    solve_s = time.perf_counter() - t1
    reached = np.isfinite(act)
    mesh = mesh.replace(point_data={**mesh.point_data, "activation_time": np.where(reached, act, np.nan)})
    write_mesh(mesh, out)
    print(
        f"{mesh.n_nodes} nodes, {mesh.n_cells} tets; {len(objs)} site{'s' if len(objs) > 1 else ''} "
        f"(source radius {radius:.3g} mm); {int(res.sweeps)} sweeps in {solve_s:.2f} s (incl. compilation)",
        flush=True,
    )
    if reached.any():
        print(
            f"activation {act[reached].min():.4g} .. {act[reached].max():.4g} ms; {int(reached.sum())} of {act.size} "
            f"nodes reached",
            flush=True,
        )
    if not reached.all():
        import warnings

        warnings.warn(
            f"activation reached {int(reached.sum())} of {act.size} nodes ({100 * reached.mean():.1f}%); "
            f"{int((~reached).sum())} unreached nodes (a part not connected to any site?) are written as "
            f"NaN in activation_time",
            MeshWarning,
            stacklevel=2,
        )
    print(f"wrote {out} (point data activation_time, ms) in {time.perf_counter() - t0:.1f} s", flush=True)
