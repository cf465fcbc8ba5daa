"""`organtwin mesh surfaces`: name a mesh's surfaces (from tags, a name map, --surface-names, or --auto), print them,
write the mesh and a picture to check them. Light module: heavy imports happen inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import legacy_positional, old_out_argument, out_option
from ._mesh_options import (
    NameMap,
    RegionField,
    RegionNames,
    SurfaceField,
    SurfaceNames,
    parse_region_ids,
    read_mesh_cli,
)

__all__ = ["mesh_surfaces"]


def mesh_surfaces(
    src: Annotated[Path, typer.Argument(help="Input mesh (tets, with or without surface triangles).")],
    old_dst: Annotated[Path | None, old_out_argument()] = None,
    out: Annotated[
        Path | None, out_option("Mesh to write (required) with the named surfaces (.vtu, .msh, .xdmf, .pts, ...).")
    ] = None,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="Label endo_lv, endo_rv, epi and base automatically from the "
            "boundary (ventricular meshes; see docs/mesh-io.md for the rule).",
        ),
    ] = False,
    regions: Annotated[
        str | None,
        typer.Option(
            help="--auto on a larger (e.g. four-chamber) mesh: the ventricles' "
            "region ids, e.g. 1,2,7; DST holds them, and the faces they share "
            "with the other regions are base."
        ),
    ] = None,
    name_map: NameMap = None,
    surface_names: SurfaceNames = None,
    region_names: RegionNames = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
    feature_angle: Annotated[
        float, typer.Option(help="--auto: dihedral angle, degrees, above which a boundary edge separates surfaces.")
    ] = 60.0,
    png: Annotated[
        Path | None, typer.Option(help="Picture of the surfaces (default: <DST stem>_surfaces.png).")
    ] = None,
    no_png: Annotated[bool, typer.Option("--no-png", help="Do not render the picture.")] = False,
    scale: Annotated[float | None, typer.Option(help="Multiply coordinates by this factor (1000 for m -> mm).")] = None,
):
    """Name the surfaces of a mesh and check them: summary (name, tag, triangles, area), a picture, one colour each."""
    from .._errors import MeshError
    from ..mesh import label_ventricular_surfaces, surface_summary, write_mesh

    dst, _ = legacy_positional(out, old_dst, "--out", "DST")
    keep = parse_region_ids(regions, "--regions")
    if keep is not None and not auto:
        raise typer.BadParameter(
            "--regions selects the ventricles for --auto; to extract regions with their tagged "
            "surfaces use `organtwin mesh convert --regions`"
        )
    if not 0.0 < feature_angle < 180.0:
        raise typer.BadParameter(f"--feature-angle must be between 0 and 180 degrees, got {feature_angle:g}")
    mesh = read_mesh_cli(
        src,
        scale=scale,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    if auto:
        if mesh.surfaces:
            print(f"--auto: replacing the file's {len(mesh.surfaces)} surface(s) ({', '.join(sorted(mesh.surfaces))})")
        mesh = label_ventricular_surfaces(mesh, feature_angle=feature_angle, regions=keep)
    elif not mesh.surfaces:
        raise MeshError(
            f"{src} has no surface triangles to name; pass --auto to label endo_lv, endo_rv, epi and base "
            "from the boundary"
        )
    rows = surface_summary(mesh)
    width = max(len(r["name"]) for r in rows)
    print(f"{'surface':<{width}}  {'tag':>5}  {'triangles':>9}  {'area mm^2':>11}")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['tag']:>5}  {r['triangles']:>9}  {r['area_mm2']:>11.1f}")
    write_mesh(mesh, dst)
    print(f"wrote {dst}: {len(rows)} surfaces, {mesh.n_cells} tets, regions {mesh.region_ids.tolist()}")
    if not no_png:
        from ..viz import render_surfaces

        out = png if png is not None else dst.with_name(f"{dst.stem}_surfaces.png")
        render_surfaces(mesh, out, title=src.name)
        print(f"wrote {out}")
