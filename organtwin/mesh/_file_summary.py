"""`organtwin mesh info`'s figures for a mesh file: `mesh_summary` of the mesh as read, the quality of the file's own
fibre arrays (before the read's repairs), and the file's name."""

from __future__ import annotations

import warnings
from pathlib import Path

from ._fibre_checks import fibre_quality
from ._mesh import Mesh
from ._quality import mesh_summary

__all__ = ["file_summary"]


def file_summary(
    path: str | Path,
    mesh: Mesh,
    *,
    scale: float | None = None,
    region_field: str | None = None,
    surface_field: str | None = None,
) -> dict:
    """`mesh_summary` of ``mesh`` (read from ``path`` with these options) with ``file`` and, when it has fibres, the
    ``fibre_quality`` of the file's arrays as they are in the file (``as_in_file``), read again unchecked."""
    from ._io import read_mesh

    summary = mesh_summary(mesh)
    if mesh.fibres is not None:
        with warnings.catch_warnings():  # the first read said all there is to say about the file
            warnings.simplefilter("ignore")
            raw = read_mesh(
                path, scale=scale, check=False, name_map=False, region_field=region_field, surface_field=surface_field
            )
        if raw.fibres is not None and raw.n_cells == mesh.n_cells:
            summary["fibre_quality"] = {**(fibre_quality(raw) or {}), "as_in_file": True}
    summary["file"] = str(path)
    return summary
