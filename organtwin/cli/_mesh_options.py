"""The mesh-reading options every command that reads a mesh can share, and `read_mesh_cli` that applies them.

Adopt them in a command with::

    def cmd(mesh: Path, ..., region_names: RegionNames = None, surface_names: SurfaceNames = None,
            name_map: NameMap = None, region_field: RegionField = None, surface_field: SurfaceField = None):
        mesh = read_mesh_cli(mesh, region_names=region_names, surface_names=surface_names, name_map=name_map,
                             region_field=region_field, surface_field=surface_field)

Light module: the library is imported inside `read_mesh_cli`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "RegionNames",
    "SurfaceNames",
    "NameMap",
    "RegionField",
    "SurfaceField",
    "read_mesh_cli",
    "parse_region_ids",
    "parse_region_list",
    "check_output_files",
]

RegionNames = Annotated[
    str | None,
    typer.Option(
        "--region-names", help="Name region ids, e.g. 1=LV,2=RV,7=septum (wins over the file's names and the name map)."
    ),
]
SurfaceNames = Annotated[
    str | None,
    typer.Option(
        "--surface-names",
        help="Name surface tags, e.g. 17=endo_lv,18=endo_rv,20=base,21=base (one name for several tags merges them).",
    ),
]
NameMap = Annotated[
    list[Path] | None,
    typer.Option(
        "--map",
        help='JSON name map, e.g. {"LV endocardium": 17, "base": [20, 21]}; repeat for several (a flat map '
        "in *_regions.json / *_surfaces.json names only regions / surfaces). Default: <stem>.json, <stem>_names.json, "
        "<stem>_regions.json, <stem>_surfaces.json next to the mesh, if present.",
    ),
]
RegionField = Annotated[
    str | None,
    typer.Option(
        "--region-field",
        help="Cell field holding the region ids of the tets (default: region, gmsh:physical, medit:ref, "
        "_volume-id, ..., tag, material; see docs/mesh-io.md).",
    ),
]
SurfaceField = Annotated[
    str | None,
    typer.Option(
        "--surface-field",
        help="Cell field holding the surface tags of the triangles (default: the first of region, "
        "_surface-id, surface-id, surface_id, surface, gmsh:physical, ... that varies over the triangles).",
    ),
]


def parse_region_ids(text: str | None, what: str = "--regions") -> list[int] | None:
    """``"1,2,7"`` -> [1, 2, 7]; a one-line error for anything else."""
    if text is None:
        return None
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated integer ids like 1,2,7, got {text!r}") from None
    if not ids:
        raise typer.BadParameter(f"{what} must name at least one region id, like 1,2,7")
    return ids


def parse_region_list(text: str | None, what: str) -> list[int] | None:
    """``"1,3"`` -> [1, 3] for an option naming regions by id (``--lv-regions``, ``--rv-regions``); a usage error
    otherwise."""
    if text is None:
        return None
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        ids = []
    if not ids:
        raise typer.BadParameter(f"{what} must be comma-separated integer region ids like 1 or 1,3, got {text!r}")
    return ids


def read_mesh_cli(
    path: Path,
    *,
    scale: float | None = None,
    region_names: str | None = None,
    surface_names: str | None = None,
    name_map: list[Path] | Path | None = None,
    region_field: str | None = None,
    surface_field: str | None = None,
    check: bool = True,
    say: Callable[[str], None] | None = print,
):
    """Read a mesh with the shared options; says (through `say`) which name map it used."""
    from ..mesh import find_name_maps, parse_id_names, read_mesh

    regions = parse_id_names(region_names, "--region-names")
    surfaces = parse_id_names(surface_names, "--surface-names")
    if isinstance(name_map, (str, Path)):
        name_map = [Path(name_map)]
    name_map = list(name_map) if name_map else None
    for m in name_map or []:
        if not Path(m).is_file():
            raise typer.BadParameter(f"--map: no such file {m}")
    used = ", ".join(map(str, name_map or find_name_maps(path))) or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh = read_mesh(
            path,
            scale=scale,
            region_names=regions,
            surface_names=surfaces,
            name_map=name_map,
            region_field=region_field,
            surface_field=surface_field,
            check=check,
        )
    for w in caught:  # passed on as they came; a map found next to the mesh but ignored is not announced as used
        if used is not None and str(w.message).startswith(f"ignored {used} "):
            used = None
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if used is not None and say is not None:
        say(f"names from {used}")
    return mesh


def check_output_files(outputs, inputs=()) -> None:
    """Before the work: each ``(path, option)`` in ``outputs`` can be written as a file (not a folder, its folder exists
    and is writable) and is none of ``inputs`` (a command never writes over the file it reads). A bad one is a usage
    error (exit 2) naming the option."""
    import os

    from ..io import ResultsError, check_output_file

    given = {os.path.realpath(Path(p).expanduser()) for p in inputs if p is not None}
    for path, option in outputs:
        if path is None:
            continue
        if os.path.realpath(Path(path).expanduser()) in given:
            raise typer.BadParameter(
                f"{option} {path}: is an input of this command; write to another file (your input is left as it is)"
            )
        try:
            check_output_file(path, option)
        except ResultsError as e:
            raise typer.BadParameter(str(e)) from None
