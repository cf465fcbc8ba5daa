"""Off-screen mesh pictures with pyvista (the edge of the package: only viz/ and io/ import pyvista)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import MeshError
from ..mesh._mesh import Mesh


def _pyvista():
    # Headless rendering: EGL needs no X server. Respect a user's own choice if set.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    pv.OFF_SCREEN = True
    return pv


def to_pyvista(mesh: Mesh):
    """The mesh as a pyvista UnstructuredGrid with regions, fibres and fields attached."""
    pv = _pyvista()
    cells = np.hstack([np.full((mesh.n_cells, 1), 4, dtype=np.int64), mesh.tets.astype(np.int64)]).ravel()
    celltypes = np.full(mesh.n_cells, pv.CellType.TETRA, dtype=np.uint8)
    grid = pv.UnstructuredGrid(cells, celltypes, mesh.points)
    grid.cell_data["region"] = mesh.regions
    if mesh.fibres is not None:
        grid.cell_data["fibres"] = mesh.fibres
    if mesh.sheets is not None:
        grid.cell_data["sheets"] = mesh.sheets
    for k, v in mesh.cell_data.items():
        grid.cell_data[k] = v
    for k, v in mesh.point_data.items():
        grid.point_data[k] = v
    return grid


def render_mesh(
    mesh: Mesh,
    out_png: str | os.PathLike,
    *,
    field: str | None = None,
    window_size: tuple[int, int] = (1200, 900),
    title: str | None = None,
    cmap: str | None = None,
) -> Path:
    """Render the mesh surface off-screen to a PNG, coloured by region (default) or by a point/cell field.

    Vector fields are shown by magnitude. The file is written atomically (a temporary file renamed into place).
    """
    pv = _pyvista()
    grid = to_pyvista(mesh)
    name = field or "region"
    if name not in grid.cell_data and name not in grid.point_data:
        have = sorted(set(grid.cell_data.keys()) | set(grid.point_data.keys()))
        raise MeshError(f"no field named {name!r} to colour by (fields: {', '.join(have)})")
    data = grid.cell_data[name] if name in grid.cell_data else grid.point_data[name]
    if data.ndim == 2:
        mag = np.linalg.norm(data, axis=1)
        (grid.cell_data if name in grid.cell_data else grid.point_data)[name + " |.|"] = mag
        name = name + " |.|"
    categorical = name == "region"
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        try:
            surf = grid.extract_surface(algorithm=None)
        except TypeError:  # pyvista < 0.47 has no `algorithm`
            surf = grid.extract_surface()
        kw = dict(scalars=name, show_edges=mesh.n_cells < 20000, edge_color="#333333", line_width=0.3)
        if categorical:
            n_reg = len(np.unique(mesh.regions))
            kw.update(categories=True, cmap=cmap or ("tab10" if n_reg <= 10 else "tab20"),
                      scalar_bar_args=dict(title="region", n_labels=min(n_reg, 10), fmt="%.0f"))
        else:
            kw.update(cmap=cmap or "viridis", scalar_bar_args=dict(title=name))
        plotter.add_mesh(surf, **kw)
        plotter.add_axes()
        if title:
            plotter.add_text(title, font_size=10)
        plotter.camera_position = "iso"
        plotter.camera.zoom(1.1)
        plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    os.replace(tmp, out)
    return out
