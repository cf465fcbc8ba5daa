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

from ._common import DTYPE_HELP, Dtype, legacy_dtype, say, use_dtype
from ._mesh_options import (
    NameMap,
    RegionField,
    RegionNames,
    SurfaceField,
    SurfaceNames,
    check_output_files,
    read_mesh_cli,
)

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


def _parse_regions(text: str) -> list[int]:
    try:
        return [int(r) for r in text.replace(" ", "").split(",") if r]
    except ValueError:
        raise typer.BadParameter(f"--regions must be comma-separated integer ids like 1,2, got {text!r}") from None


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
    dtype: Annotated[Dtype, typer.Option(help=DTYPE_HELP, case_sensitive=False)] = Dtype.float32,
    float64: Annotated[bool, typer.Option("--float64", hidden=True, help="Deprecated: --dtype float64.")] = False,
    fibres: Annotated[
        str,
        typer.Option(
            "--fibres",
            metavar="<mesh|rule-based|none>",
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
    from ..mesh import FIBRE_CHOICES, check_mesh, write_mesh

    dtype = legacy_dtype(dtype, float64, "--float64")
    sites = [_parse_site(s) for s in site]
    if fibres not in FIBRE_CHOICES:
        raise typer.BadParameter(f"--fibres must be one of {', '.join(FIBRE_CHOICES)}, got {fibres!r}")
    for name, v in (("--cv-fibre", cv_fibre), ("--cv-transverse", cv_transverse), ("--cv-normal", cv_normal)):
        _positive(name, v)
    _positive("--cv-endo", cv_endo)
    if site_radius is not None and not (math.isfinite(site_radius) and site_radius >= 0):
        raise typer.BadParameter(f"--site-radius must be a length >= 0 in mm, got {site_radius}")
    check_output_files([(out, "--out")], inputs=[mesh_path])  # before the work; never over the input mesh
    keep = None if regions is None else _parse_regions(regions)

    t0 = time.perf_counter()
    read = functools.partial(
        read_mesh_cli, mesh_path, scale=scale, region_names=region_names, surface_names=surface_names,
        name_map=name_map, region_field=region_field, surface_field=surface_field,
    )  # fmt: skip
    if fibres == "mesh":
        mesh = read()
    else:  # the file's fibre arrays are replaced: they must not stop the read
        mesh = check_mesh(read(check=False).replace(fibres=None, sheets=None), source=str(mesh_path))
    use_dtype(dtype)  # before rule-based fibres are computed
    import jax.numpy as jnp

    from ..ep import eikonal_activation_map

    result = eikonal_activation_map(
        mesh, sites, cv_fibre, cv_transverse, cv_normal, regions=keep, fibres=fibres, cv_endo=cv_endo,
        fast_endocardium=None if fast_endo is None else [s.strip() for s in fast_endo.split(",") if s.strip()],
        radius=site_radius, dtype=getattr(jnp, dtype.value), names=[f"--site {t}" for t in site],
        radius_hint="--site-radius", source=str(mesh_path), say=say,
    )  # fmt: skip
    write_mesh(result.mesh, out)
    for line in result.describe():
        say(line)
    say(f"wrote {out} (point data activation_time, ms) in {time.perf_counter() - t0:.1f} s")
