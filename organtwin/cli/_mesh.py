"""`organtwin mesh`: read, inspect, convert, generate, name the surfaces of, add fibres to and render meshes.

A typer sub-application registered by the main application (``app.add_typer(mesh_app, name="mesh")``); each command
parses its arguments, calls the library (`organtwin.mesh`, `organtwin.viz`) and prints. Outputs are ``--out/-o``; the
positional output of earlier versions (``mesh convert SRC DST``, ``mesh fibres``, ``mesh surfaces``) still works with a
one-line deprecation note, as does ``mesh generate --h`` (now ``--edge-length``). Light module: heavy imports happen
inside the commands.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .._errors import InputError
from ._common import legacy_option, legacy_positional, old_out_argument, out_option, say
from ._mesh_options import (
    NameMap,
    RegionField,
    RegionNames,
    SurfaceField,
    SurfaceNames,
    check_output_files,
    parse_region_ids,
    read_mesh_cli,
)
from ._mesh_surfaces import mesh_surfaces

__all__ = ["mesh_app", "mesh_info", "mesh_convert", "mesh_render", "mesh_generate", "mesh_fibres", "mesh_surfaces"]

mesh_app = typer.Typer(help="Read, inspect, convert, generate and render meshes.", no_args_is_help=True)

_MESH_HELP = "Mesh file (VTU, VTK, MSH, XDMF, Medit, openCARP .pts/.elem basename, ...)."
_SCALE_HELP = "Multiply coordinates by this factor (e.g. 1000 for m -> mm)."
#: The positional output of earlier versions: hidden, still read (with a deprecation note).
OldDst = Annotated[Path | None, old_out_argument()]


def _read(path: Path, scale: float | None = None, **names):
    """Read a mesh with the shared mesh options (--region-names, --surface-names, --map, --region-field, ...)."""
    return read_mesh_cli(path, scale=scale, say=lambda m: print(f"organtwin: note: {m}", file=sys.stderr), **names)


@mesh_app.command("info")
def mesh_info(
    path: Annotated[Path, typer.Argument(help=_MESH_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    scale: Annotated[float | None, typer.Option(help=_SCALE_HELP)] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Nodes, tets, regions (tets, volume in mL), surfaces (area), bounding box, units guess and quality."""
    from ..mesh import file_summary, format_summary

    names = dict(region_field=region_field, surface_field=surface_field)
    mesh = _read(path, scale, region_names=region_names, surface_names=surface_names, name_map=name_map, **names)
    summary = file_summary(path, mesh, scale=scale, **names)
    say(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@mesh_app.command("convert")
def mesh_convert(
    src: Annotated[Path, typer.Argument(help="Input mesh.")],
    old_dst: OldDst = None,
    out: Annotated[
        Path | None,
        out_option("Output mesh (required); the format follows the extension (.vtu, .msh, .xdmf, .pts, ...)."),
    ] = None,
    scale: Annotated[float | None, typer.Option(help=_SCALE_HELP)] = None,
    regions: Annotated[
        str | None, typer.Option(help="Keep only these region ids, comma-separated (e.g. 1,2,7).")
    ] = None,
    keep_fields: Annotated[
        bool,
        typer.Option(
            "--keep-fields",
            help="Keep the file's other tag fields (e.g. a second "
            "'tag' array), renamed orig:<name> so they cannot shadow the regions.",
        ),
    ] = False,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Convert between formats, optionally rescaling and extracting regions (nodes renumbered, surfaces kept).

    Tag fields that compete with the regions (e.g. a second 'tag' array) are dropped with a note, or with --keep-fields
    renamed orig:<name>, so the file reads back with the regions written."""
    from ..mesh import convert_mesh, write_mesh

    dst, dst_name = legacy_positional(out, old_dst, "--out", "DST")
    keep = parse_region_ids(regions, "--regions")
    check_output_files([(dst, dst_name)], inputs=[src])
    mesh = _read(
        src,
        scale,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    mesh, tag_fields = convert_mesh(mesh, regions=keep, keep_fields=keep_fields)
    if tag_fields:
        say(
            f"note: {'renamed' if keep_fields else 'dropped'} the other tag field(s) {', '.join(tag_fields)}"
            + (" to orig:<name>" if keep_fields else " (--keep-fields keeps them as orig:<name>)")
        )
    write_mesh(mesh, dst)
    names = dict(mesh.region_names)
    shown = ", ".join(f"{r} {names[r]}" if r in names else str(r) for r in mesh.region_ids.tolist())
    say(
        f"wrote {dst}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, regions {shown}; surfaces "
        f"{', '.join(sorted(mesh.surfaces)) or 'none'}"
    )


@mesh_app.command("render")
def mesh_render(
    path: Annotated[
        Path, typer.Argument(help="Mesh file, or an `organtwin ep run` results folder (its activation.vtu).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")],
    field: Annotated[str | None, typer.Option(help="Point or cell field to colour by (default: region).")] = None,
    scale: Annotated[float | None, typer.Option(help=_SCALE_HELP)] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Render the mesh off-screen to a PNG, coloured by region (one colour per id, names in the legend) or a field."""
    import numpy as np

    from ..viz import render_mesh

    if field is not None and not field.strip():
        raise typer.BadParameter("--field is empty; give a point or cell field of the mesh (`organtwin mesh info`)")
    if path.is_dir():
        if not (path / "activation.vtu").is_file():
            raise InputError(
                f"{path} is a folder without activation.vtu; give a mesh file, or a results folder of "
                "`organtwin ep run` that recorded activation"
            )
        path = path / "activation.vtu"
        say(f"rendering {path}")
    check_output_files([(out, "--out")], inputs=[path])
    mesh = _read(
        path,
        scale,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    values = None if field is None else {**mesh.cell_data, **mesh.point_data}.get(field)
    if values is not None and np.asarray(values).dtype.kind in "fc" and not np.isfinite(np.asarray(values)).any():
        raise InputError(f"{path}: field {field!r} holds no finite value (all NaN or inf): nothing to colour by")
    render_mesh(mesh, out, field=field, title=path.name)
    say(f"wrote {out}")


class MeshKind(StrEnum):
    slab = "slab"
    lv = "lv"
    biv = "biv"


@mesh_app.command("generate")
def mesh_generate(
    kind: Annotated[MeshKind, typer.Argument(help="slab (structured box), lv (ellipsoid LV) or biv (biventricular).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mesh file to write (.vtu, .msh, ...).")],
    dx: Annotated[float, typer.Option(help="slab: grid spacing, mm.")] = 0.5,
    size: Annotated[str, typer.Option(help="slab: size as LX,LY,LZ, mm.")] = "20,7,3",
    edge_length: Annotated[
        float | None,
        typer.Option(
            "--edge-length",
            show_default=False,
            help="lv/biv: target edge length, mm (gmsh's characteristic element size h; default 1.5 for lv, 2.5 for "
            "biv).",
        ),
    ] = None,
    h: Annotated[float | None, typer.Option("--h", hidden=True, help="Deprecated: --edge-length.")] = None,
):
    """Generate a built-in geometry (the Niederer 20x7x3 mm slab at any dx, an LV ellipsoid, a biventricular mesh)."""
    from ..mesh import biv_mesh, lv_ellipsoid_mesh, slab_mesh, write_mesh

    edge, edge_name = legacy_option(edge_length, h, "--edge-length", "--h")
    if dx <= 0 or (edge is not None and edge <= 0):
        raise typer.BadParameter(f"--dx and {edge_name} must be positive lengths in mm")
    check_output_files([(out, "--out")])
    if kind is MeshKind.slab:
        try:
            lx, ly, lz = (float(t) for t in size.split(","))
        except ValueError:
            raise typer.BadParameter(f"--size must be three lengths in mm like 20,7,3, got {size!r}") from None
        mesh = slab_mesh((lx, ly, lz), dx)
    elif kind is MeshKind.lv:
        mesh = lv_ellipsoid_mesh(**({} if edge is None else {"h": edge}))
    else:
        mesh = biv_mesh(**({} if edge is None else {"h": edge}))
    write_mesh(mesh, out)
    say(f"wrote {out}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, surfaces {sorted(mesh.surfaces)}")


@mesh_app.command("fibres")
def mesh_fibres(
    src: Annotated[Path, typer.Argument(help="Mesh with endo/epi/base surfaces.")],
    old_dst: OldDst = None,
    out: Annotated[Path | None, out_option("Mesh to write (required), with per-cell fibres and sheets.")] = None,
    alpha_endo: Annotated[float, typer.Option(help="Helix angle at the endocardium, degrees.")] = 60.0,
    alpha_epi: Annotated[float, typer.Option(help="Helix angle at the epicardium, degrees.")] = -60.0,
    png: Annotated[Path | None, typer.Option(help="Also render the fibres to this PNG.")] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Rule-based fibres (Bayer et al. 2012): Laplace solves for transmural and apico-basal coordinates."""
    from ..mesh import rule_based_fibres, write_mesh

    dst, dst_name = legacy_positional(out, old_dst, "--out", "DST")
    check_output_files([(dst, dst_name), (png, "--png")], inputs=[src])
    if png is not None and Path(png).expanduser().resolve() == Path(dst).expanduser().resolve():
        raise typer.BadParameter(f"--png {png}: is {dst_name} too; give the picture its own file")
    mesh = _read(
        src,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    mesh = rule_based_fibres(mesh, alpha_endo=alpha_endo, alpha_epi=alpha_epi)
    write_mesh(mesh, dst)
    say(f"wrote {dst} with fibres and sheets ({mesh.n_cells} tets)")
    if png is not None:
        from ..viz import render_fibres

        render_fibres(mesh, png)
        say(f"wrote {png}")


mesh_app.command("surfaces")(mesh_surfaces)
