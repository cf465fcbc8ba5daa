"""Off-screen mesh pictures with pyvista (the edge of the package: only viz/ and io/ import pyvista)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .._errors import MeshError
from ..mesh._mesh import Mesh


def _picture_target(out) -> Path:
    """Check, before drawing, that a picture can be written at ``out`` (not a folder; its folder made if missing)."""
    out = Path(out)
    if out.is_dir():
        raise MeshError(f"cannot write the picture {out}: it is a folder; give a file name like picture.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _write_screenshot(plotter, out: Path) -> Path:
    """The plotter's picture as PNG at ``out``, atomically (`organtwin.io.atomic_file`: a temporary file beside it,
    then renamed; a failure names ``out``, never the temporary file)."""
    import io

    from ..io import atomic_file

    buf = io.BytesIO()
    plotter.screenshot(buf)
    with atomic_file(out, None) as (_, tmp):
        tmp.write_bytes(buf.getvalue())
    return Path(out)


#: Units of the fields organtwin writes, shown in the colour bar's title.
_FIELD_UNITS = {
    "activation_time": "ms",
    "repolarisation_time": "ms",
    "apd": "ms",
    "last_activation_time": "ms",
    "vm": "mV",
    "transmural": "0 endo .. 1 epi",
    "apicobasal": "0 apex .. 1 base",
    "helix_angle": "deg",
}


def _pyvista():
    import pyvista as pv

    return pv


_WINDOW = "VTK_DEFAULT_OPENGL_WINDOW"
_WINDOW_LOCK = threading.Lock()


def _plotter(**kwargs):
    """An off-screen ``pyvista.Plotter``. Headless rendering: its render window is made with EGL (no X server needed),
    unless the user chose a window class in the environment variable VTK_DEFAULT_OPENGL_WINDOW. The variable is set
    only while the window is created (VTK reads it then) and restored at once: the process's environment and pyvista's
    global settings are left as they were.

    The plotter's pass-through methods are called on what they pass to: ``plotter.renderers.set_background`` (all
    panels) and ``plotter.renderer.add_axes`` / ``.add_legend`` (the active panel). pyvista declares the pass-throughs
    with ``functools.wraps``, which type checkers read as the unbound method of the class wrapped."""
    pv = _pyvista()
    with _WINDOW_LOCK:
        mine = _WINDOW not in os.environ
        if mine:
            os.environ[_WINDOW] = "vtkEGLRenderWindow"
        try:
            return pv.Plotter(off_screen=True, **kwargs)
        finally:
            if mine:
                os.environ.pop(_WINDOW, None)


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


# Distinct colours for categories (regions, surfaces): Tableau 10, then the darker Tableau 20b/c shades (legend labels
# are drawn in the entry's colour, so no pale colours), then hues spaced by the golden angle.
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#ad494a",
    "#637939",
    "#8c6d31",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)


def category_colours(n: int) -> list[str]:
    """`n` distinct colours (hex), one per category; never binned: category k always gets colour k."""
    import colorsys

    out: list[str] = list(_PALETTE[:n])
    for k in range(n - len(out)):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.75, 0.7)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def region_colours(mesh: Mesh) -> dict[int, tuple[str, str]]:
    """{region id: (colour, legend label "1 LV")}: one distinct colour per region id, in id order."""
    ids = mesh.region_ids.tolist()
    names = dict(mesh.region_names)
    return {
        rid: (c, f"{rid} {names[rid]}" if rid in names else str(rid)) for rid, c in zip(ids, category_colours(len(ids)))
    }


def _is_categorical(name: str, data: np.ndarray) -> bool:
    return name == "region" or (data.ndim == 1 and data.dtype.kind in "iu" and np.unique(data).size <= 20)


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

    Regions (and integer cell fields with at most 20 values) are categorical: one distinct colour per id, never binned,
    with a legend "id name" (e.g. "1 LV", "7 septum"). Vector fields are shown by magnitude. The file is written
    atomically (a temporary file renamed into place).
    """
    grid = to_pyvista(mesh)
    name = field or "region"
    if name not in grid.cell_data and name not in grid.point_data:
        have = sorted(set(grid.cell_data.keys()) | set(grid.point_data.keys()))
        raise MeshError(f"no field named {name!r} to colour by (fields: {', '.join(have)})")
    on_cells = name in grid.cell_data
    data = np.asarray(grid.cell_data[name] if on_cells else grid.point_data[name])
    if data.ndim == 2:
        mag = np.linalg.norm(data, axis=1)
        (grid.cell_data if on_cells else grid.point_data)[name + " |.|"] = mag
        name = name + " |.|"
    categorical = on_cells and _is_categorical(name, data)
    legend = None
    if categorical:
        if name == "region":
            colours = region_colours(mesh)
        else:
            values = np.unique(data).tolist()
            colours = {v: (c, f"{name} {v}") for v, c in zip(values, category_colours(len(values)))}
        values = np.array(sorted(colours))
        grid.cell_data["_category"] = np.searchsorted(values, data).astype(np.int32)
        legend = [(colours[v][1], colours[v][0]) for v in values.tolist()]
    out = _picture_target(out_png)
    # a categorical picture gets the legend in a panel of its own, beside the mesh (never over it)
    shape = dict(shape=(1, 2), col_weights=[3, 1], border=False) if legend is not None else {}
    size = [int(window_size[0] * 4 / 3), int(window_size[1])] if legend is not None else list(window_size)
    plotter = _plotter(window_size=size, **shape)
    try:
        plotter.renderers.set_background("white")
        try:
            surf = grid.extract_surface(algorithm=None)
        except TypeError:  # pyvista < 0.47 has no `algorithm`
            surf = grid.extract_surface()
        show_edges = mesh.n_cells < 20000
        if legend is not None:
            from matplotlib.colors import ListedColormap

            n = len(legend)
            plotter.add_mesh(
                surf,
                show_edges=show_edges,
                edge_color="#333333",
                line_width=0.3,
                scalars="_category",
                cmap=ListedColormap([c for _, c in legend]),
                clim=(-0.5, n - 0.5),
                show_scalar_bar=False,
                interpolate_before_map=False,
            )
        else:
            unit = _FIELD_UNITS.get(name.lower())
            plotter.add_mesh(
                surf,
                show_edges=show_edges,
                edge_color="#333333",
                line_width=0.3,
                scalars=name,
                cmap=cmap or "viridis",
                scalar_bar_args={"title": f"{name} ({unit})" if unit else name, "color": "black"},
            )
        plotter.renderer.add_axes()
        if title:
            plotter.add_text(title, font_size=10, color="black")
        plotter.camera_position = "iso"
        plotter.camera.zoom(1.1)
        if legend is not None:
            plotter.subplot(0, 1)
            plotter.renderers.set_background("white")
            plotter.renderer.add_legend(
                labels=[[label, colour] for label, colour in legend],
                bcolor="white",
                face="rectangle",
                size=(0.95, min(0.06 * len(legend) + 0.02, 0.95)),
                loc="upper left",
            )
        return _write_screenshot(plotter, out)
    finally:
        plotter.close()
